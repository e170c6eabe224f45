//! The `sync-server` command line: `serve`, `demo` and `admin …`.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use protocol::api::Role;
use tracing_subscriber::EnvFilter;

use crate::admin::{self, NewAgent};
use crate::config::{self, Config};
use crate::db::Db;
use crate::events::EventHub;
use crate::Server;

/// Baton sync server: shared ownership, reply locks, notes, handoffs and live events for a team
/// working one WhatsApp Business number.
#[derive(Debug, Parser)]
#[command(name = "sync-server", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create the demo org (a lead, two agents and a first-responder seat) if it does not exist, and print its logins.
    Demo(DatabaseArgs),
    /// Provision orgs, agents and tokens.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// `sqlite:FILE` (created if missing) or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:baton.db")]
    database_url: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BATON_BIND", default_value_t = config::default_bind())]
    bind: SocketAddr,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Origins allowed to call the API from a browser and open the event stream (repeat the flag
    /// or separate with commas). Defaults to Baton's own extension.
    #[arg(
        long = "allowed-origin",
        env = "BATON_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, env = "BATON_LOG", default_value = "info")]
    log_level: String,
    /// Log lines as text for people, or one JSON object per line for log collectors.
    #[arg(long, env = "BATON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Serve Prometheus metrics (`GET /metrics`) on this address, apart from the API; off when
    /// not given. Keep it private (loopback or an internal network).
    #[arg(long, env = "BATON_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
    /// Seconds a reply lock lasts without a heartbeat.
    #[arg(long, env = "BATON_LOCK_TTL_SECS", default_value_t = 30)]
    lock_ttl_secs: u64,
    /// Days a login stays valid.
    #[arg(long, env = "BATON_TOKEN_TTL_DAYS", default_value_t = 30)]
    token_ttl_days: u64,
    /// HTTP connections served at once (capped below the file-descriptor limit).
    #[arg(long, env = "BATON_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Database connections for reads (and, on PostgreSQL, writes).
    #[arg(long, env = "BATON_DB_CONNECTIONS", default_value_t = 10)]
    db_connections: u32,
    /// A host name requests may be addressed to (repeat it, or separate with commas). By
    /// default a server on a loopback address answers only loopback names (against DNS
    /// rebinding), and one on any other address answers any name.
    #[arg(
        long = "allowed-host",
        env = "BATON_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Seed the demo org before serving (see `sync-server demo`).
    #[arg(long)]
    demo: bool,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an org (one WhatsApp number) and print its id.
    CreateOrg {
        #[arg(long)]
        name: String,
        /// IANA time zone of the business, e.g. Asia/Kolkata.
        #[arg(long)]
        timezone: String,
        /// How agents see dates and times: a language tag such as en-GB (26/11/2026, 15:43), en-IN
        /// or hi-IN. Default en-GB.
        #[arg(long)]
        locale: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Create an agent; the password is read from the first line of standard input.
    CreateAgent {
        /// The org's id (from create-org).
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// agent, lead, admin or responder (the first responder's seat).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List an org's agents.
    ListAgents {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Log an agent out everywhere: revoke all their tokens (their event streams close at once).
    RevokeTokens {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Stop an agent working: no more logins, their sessions and reply locks end at once.
    Deactivate {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Let a deactivated agent log in again (with their old password).
    Reactivate {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Show or set an org's routing as JSON: business hours, agents' routing profiles (by
    /// email), teams (members by email) and the ordered rules (teams and pipelines by name).
    #[command(subcommand)]
    Routing(RoutingCommand),
    /// Set an agent's password (read from standard input); their current logins end.
    SetPassword {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum RoutingCommand {
    /// Print the org's routing: the JSON document `apply` takes.
    Show {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Make the org's routing what a JSON document says, in one transaction, with the checks of
    /// the HTTP API (any mistake changes nothing), then print it. Given business hours, profiles
    /// and teams are set (others are left alone); given rules become the whole ordered list
    /// (matched by name; unlisted rules are deleted).
    Apply {
        #[arg(long)]
        org: String,
        /// The document's file; standard input when not given.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl AdminCommand {
    fn database(&self) -> &DatabaseArgs {
        match self {
            AdminCommand::CreateOrg { database, .. }
            | AdminCommand::CreateAgent { database, .. }
            | AdminCommand::ListAgents { database, .. }
            | AdminCommand::RevokeTokens { database, .. }
            | AdminCommand::Deactivate { database, .. }
            | AdminCommand::Reactivate { database, .. }
            | AdminCommand::Routing(RoutingCommand::Show { database, .. })
            | AdminCommand::Routing(RoutingCommand::Apply { database, .. })
            | AdminCommand::SetPassword { database, .. } => database,
        }
    }
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value)
        .ok_or_else(|| format!("{value:?} is not a role; use agent, lead, admin or responder"))
}

/// Parses the command line, runs the command and turns any error into one line on stderr.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Demo(database) => {
            init_logging("warn", LogFormat::Text)?;
            let db = Db::connect(&database.database_url, 2).await?;
            let seeded = admin::seed_demo(&db).await;
            db.close().await;
            print_demo(&seeded?);
            Ok(())
        }
        Command::Admin(command) => {
            init_logging("warn", LogFormat::Text)?;
            admin_command(command).await
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid log filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let started = match format {
        // Colours only for a person at a terminal, not in log files.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    started.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_level, args.log_format)?;
    let mut config = Config::new(args.database.database_url);
    if !args.allowed_origins.is_empty() {
        config.allowed_origins = args.allowed_origins;
    }
    config.lock_ttl = Duration::from_secs(args.lock_ttl_secs);
    config.token_ttl = Duration::from_secs(args.token_ttl_days.saturating_mul(24 * 3600));
    config.max_connections = args.max_connections;
    config.db_max_connections = args.db_connections;
    config.allowed_hosts = args.allowed_hosts.clone();
    config.metrics_bind = args.metrics_bind;
    config.validate()?;
    let db = Db::connect(&config.database_url, config.db_max_connections).await?;
    if args.demo {
        print_demo(&admin::seed_demo(&db).await?);
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let server = Server::start_with_db(config.clone(), db, listener)?;
    tracing::info!(
        addr = %server.addr(),
        database = %crate::db::redact_url(&config.database_url),
        origins = ?config.allowed_origins,
        "Baton sync server listening"
    );
    println!("Baton sync server listening on http://{}", server.addr());
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

async fn admin_command(command: AdminCommand) -> anyhow::Result<()> {
    let db = Db::connect(&command.database().database_url, 2).await?;
    let done = admin_command_on(command, &db).await;
    // What the command wrote is announced to the running servers before the process exits.
    db.close().await;
    done
}

async fn admin_command_on(command: AdminCommand, db: &Db) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateOrg {
            name,
            timezone,
            locale,
            ..
        } => {
            let org = admin::create_org(db, &name, &timezone, locale.as_deref()).await?;
            println!("{}", org.id);
        }
        AdminCommand::CreateAgent {
            org,
            name,
            email,
            role,
            password_stdin: _,
            ..
        } => {
            let password = read_password()?;
            let agent = admin::create_agent(
                db,
                &EventHub::for_commands(db),
                NewAgent {
                    org_id: &org,
                    name: &name,
                    email: &email,
                    role,
                    password: &password,
                },
                None,
            )
            .await?;
            println!("{}", agent.id);
        }
        AdminCommand::ListAgents { org, .. } => {
            for agent in admin::list_agents(db, &org).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    agent.id,
                    agent.role.as_str(),
                    agent.email,
                    agent.name
                );
            }
        }
        AdminCommand::RevokeTokens { email, .. } => {
            let revoked = admin::revoke_tokens(db, &EventHub::for_commands(db), &email).await?;
            println!(
                "revoked {revoked} token(s) of {}",
                email.trim().to_lowercase()
            );
        }
        AdminCommand::Deactivate { email, .. } => {
            let agent = admin::deactivate(
                db,
                &EventHub::for_commands(db),
                admin::Who::Email(&email),
                None,
            )
            .await?;
            println!("deactivated {} ({})", agent.name, agent.email);
        }
        AdminCommand::Reactivate { email, .. } => {
            let agent = admin::reactivate(
                db,
                &EventHub::for_commands(db),
                admin::Who::Email(&email),
                None,
            )
            .await?;
            println!("reactivated {} ({})", agent.name, agent.email);
        }
        AdminCommand::Routing(RoutingCommand::Show { org, .. }) => {
            print_routing(db, &org).await?;
        }
        AdminCommand::Routing(RoutingCommand::Apply { org, file, .. }) => {
            let text = match &file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                None => std::io::read_to_string(std::io::stdin())
                    .context("cannot read the routing document from standard input")?,
            };
            crate::routing::setup::apply_text(db, &EventHub::for_commands(db), &org, &text).await?;
            print_routing(db, &org).await?;
        }
        AdminCommand::SetPassword {
            email,
            password_stdin: _,
            ..
        } => {
            let password = read_password()?;
            let agent = admin::set_password(
                db,
                &EventHub::for_commands(db),
                admin::Who::Email(&email),
                &password,
            )
            .await?;
            println!("set the password of {} ({})", agent.name, agent.email);
        }
    }
    Ok(())
}

async fn print_routing(db: &Db, org_id: &str) -> anyhow::Result<()> {
    let setup = crate::routing::setup::show(db, org_id)
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::routing::setup::api_message(&e)))?;
    println!("{}", serde_json::to_string_pretty(&setup)?);
    Ok(())
}

/// The first line of standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on standard input (pipe it in: echo 'secret' | sync-server admin create-agent … --password-stdin)");
    }
    Ok(password)
}

fn print_demo(demo: &admin::Demo) {
    let verb = if demo.created { "Created" } else { "Using" };
    println!(
        "{verb} the demo org \"{}\" (id {}). Log in with:",
        demo.org.name, demo.org.id
    );
    // Columns as wide as their widest entry, so every login lines up ("responder" included).
    let width = |cell: fn(&protocol::api::Agent) -> &str| {
        demo.agents
            .iter()
            .map(|a| cell(a).chars().count())
            .max()
            .unwrap_or(0)
    };
    let (role_width, name_width, email_width) = (
        width(|a| a.role.as_str()),
        width(|a| a.name.as_str()),
        width(|a| a.email.as_str()),
    );
    for agent in &demo.agents {
        println!(
            "  {:<role_width$} {:<name_width$} {:<email_width$} password: {}",
            agent.role.as_str(),
            agent.name,
            agent.email,
            admin::DEMO_PASSWORD
        );
    }
}
