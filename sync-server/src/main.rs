//! `sync-server`: see `sync-server --help`. Everything lives in the library crate.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sync_server::cli::main().await
}
