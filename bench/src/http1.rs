//! A lean HTTP/1.1 client for the load driver: one keep-alive connection, one request at a time,
//! each request written in one `write` and its answer read straight off the socket.
//!
//! The peers are driven by lean clients (pgbench through libpq; the raw SQLite cycle has no
//! client at all), so the driver must not be what a lock cycle waits on. A general-purpose client
//! (reqwest: URL parsing, header maps, a pool and a connection task per request) measured here
//! ~0.3 ms per request on top of the server's own ~0.2 ms, counted against Baton in every ratio.

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection to a server.
pub struct Connection {
    /// `host:port`, from the base URL.
    authority: String,
    stream: Option<TcpStream>,
    /// Bytes read but not yet consumed (the start of the next answer, if the server sent early).
    buffer: Vec<u8>,
}

/// A server's answer: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Connection {
    /// A connection to the server at `base` (`http://host:port`), opened at the first request.
    pub fn new(base: &str) -> anyhow::Result<Connection> {
        let authority = base
            .strip_prefix("http://")
            .context("the driver speaks plain http:// only")?
            .trim_end_matches('/')
            .to_owned();
        Ok(Connection {
            authority,
            stream: None,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its answer. A request that fails is not resent (the driver
    /// counts it as an error); the next one connects again.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        json: Option<&[u8]>,
    ) -> anyhow::Result<Answer> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\naccept: application/json\r\n",
            self.authority
        );
        if let Some(token) = token {
            head.push_str("authorization: Bearer ");
            head.push_str(token);
            head.push_str("\r\n");
        }
        let body = json.unwrap_or_default();
        if json.is_some() {
            head.push_str("content-type: application/json\r\n");
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut message = head.into_bytes();
        message.extend_from_slice(body);
        self.exchange(&message).await
    }

    /// [`Connection::request`], with any answer but a 2xx as an error naming `what` was asked.
    pub async fn succeed(
        &mut self,
        what: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        json: Option<&[u8]>,
    ) -> anyhow::Result<Answer> {
        let answer = self.request(method, path, token, json).await?;
        if !answer.is_success() {
            bail!("{what}: {} {}", answer.status, answer.text());
        }
        Ok(answer)
    }

    async fn exchange(&mut self, message: &[u8]) -> anyhow::Result<Answer> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&self.authority).await?;
                stream.set_nodelay(true)?;
                self.buffer.clear();
                self.stream.insert(stream)
            }
        };
        let result = async {
            stream.write_all(message).await?;
            read_answer(stream, &mut self.buffer).await
        }
        .await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }
}

async fn read_answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<Answer> {
    let head_end = loop {
        if let Some(at) = find(buffer, b"\r\n\r\n") {
            break at + 4;
        }
        fill(stream, buffer).await?;
    };
    let head = std::str::from_utf8(&buffer[..head_end]).context("a non-UTF-8 answer head")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .context("an answer without a status")?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().context("a bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    buffer.drain(..head_end);
    let body = if chunked {
        read_chunked(stream, buffer).await?
    } else {
        // Every answer the driver asks for has a length (or none at all: 204).
        let length = length.unwrap_or(0);
        while buffer.len() < length {
            fill(stream, buffer).await?;
        }
        buffer.drain(..length).collect()
    };
    Ok(Answer { status, body })
}

async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(at) = find(buffer, b"\r\n") {
                break at;
            }
            fill(stream, buffer).await?;
        };
        let size_text = std::str::from_utf8(&buffer[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("a bad chunk size")?;
        buffer.drain(..line_end + 2);
        while buffer.len() < size + 2 {
            fill(stream, buffer).await?;
        }
        body.extend_from_slice(&buffer[..size]);
        buffer.drain(..size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}

async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut chunk = [0u8; 4096];
    let read = stream.read(&mut chunk).await?;
    if read == 0 {
        bail!("the server closed the connection");
    }
    buffer.extend_from_slice(&chunk[..read]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Serves `answers` in order, one per request read, on one connection.
    async fn serve(answers: Vec<&'static [u8]>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut seen = Vec::new();
            for answer in answers {
                while find(&seen, b"\r\n\r\n").is_none() {
                    let mut chunk = [0u8; 1024];
                    let n = socket.read(&mut chunk).await.expect("read");
                    seen.extend_from_slice(&chunk[..n]);
                }
                let end = find(&seen, b"\r\n\r\n").expect("head") + 4;
                seen.drain(..end);
                socket.write_all(answer).await.expect("write");
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn reads_lengths_chunks_and_empty_answers_on_one_connection() {
        let base = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\n{}",
        ])
        .await;
        let mut conn = Connection::new(&base).expect("base");
        let a = conn.request("GET", "/a", None, None).await.expect("a");
        assert_eq!((a.status, a.text().as_str()), (200, "hello"));
        let b = conn
            .request("POST", "/b", Some("t"), Some(b"{}"))
            .await
            .expect("b");
        assert_eq!((b.status, b.text().as_str()), (201, "abcde"));
        let c = conn
            .request("DELETE", "/c", Some("t"), None)
            .await
            .expect("c");
        assert_eq!((c.status, c.body.len()), (204, 0));
        let d = conn.request("GET", "/d", None, None).await.expect("d");
        assert!(!d.is_success());
        assert_eq!(d.text(), "{}");
    }
}
