//! Just enough HTTP/1.1 for the Runtime API and the AWS proxy: one message at a time on a
//! keep-alive connection, bodies by Content-Length or chunked, written back in ONE send with
//! TCP_NODELAY (a head and a body in two sends stall ~40 ms on Nagle + delayed ACK).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// A request or a response: its start line, headers in order, and the whole body.
#[derive(Debug, Default)]
pub struct Message {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The peer ends the body by closing the connection (a response without a length).
    pub until_close: bool,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `GET /path HTTP/1.1` -> ("GET", "/path").
    pub fn method_path(&self) -> (&str, &str) {
        let mut parts = self.start.split(' ');
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    }

    /// The message with its body length as Content-Length (chunked framing removed), in one buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        out.extend_from_slice(self.start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case("content-length")
                || k.eq_ignore_ascii_case("transfer-encoding")
            {
                continue;
            }
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// Reads one message; `None` on a clean close before its first byte. A response with neither
/// a length nor chunking is read to EOF (`until_close`).
pub fn read_message(r: &mut BufReader<TcpStream>, response: bool) -> io::Result<Option<Message>> {
    let Some(start) = read_line(r)? else {
        return Ok(None);
    };
    let mut msg = Message {
        start,
        ..Message::default()
    };
    loop {
        let line = read_line(r)?.ok_or_else(|| bad("EOF in headers"))?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad("header without ':'"))?;
        msg.headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let chunked = msg
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let size_line = read_line(r)?.ok_or_else(|| bad("EOF in chunk size"))?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !read_line(r)?.unwrap_or_default().is_empty() {}
                break;
            }
            let at = msg.body.len();
            msg.body.resize(at + size, 0);
            r.read_exact(&mut msg.body[at..])?;
            read_line(r)?;
        }
    } else if let Some(len) = msg.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
        msg.body.resize(len, 0);
        r.read_exact(&mut msg.body)?;
    } else if response {
        let status = msg.start.split(' ').nth(1).unwrap_or("");
        if !(status.starts_with('1') || status == "204" || status == "304") {
            r.read_to_end(&mut msg.body)?;
            msg.until_close = true;
        }
    }
    Ok(Some(msg))
}

/// A response in one write.
pub fn respond(
    w: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> io::Result<()> {
    let msg = Message {
        start: format!("HTTP/1.1 {status}"),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        body: body.to_vec(),
        until_close: false,
    };
    w.write_all(&msg.to_bytes())
}
