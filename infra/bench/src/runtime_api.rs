//! The Lambda Runtime API (2018-06-01) on 127.0.0.1, as `lambda_runtime` speaks it: each
//! connection thread reports what the function asked for to the driver over a channel and
//! hands out the invocations the driver gives it.

use crate::http::{read_message, respond};
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const PREFIX: &str = "/2018-06-01/runtime";

/// One event for the function.
pub struct Invocation {
    pub id: String,
    pub function_arn: String,
    pub body: Vec<u8>,
}

/// What the function did, with when the harness saw it.
pub enum Seen {
    /// `GET .../invocation/next`: the function is idle and asks for work.
    Next {
        at: Instant,
        reply: SyncSender<Invocation>,
    },
    /// The event is about to be written (stamped just before the write).
    Sent { at: Instant },
    /// `POST .../invocation/{id}/response` (whole body read).
    Response { at: Instant, id: String },
    /// `POST .../invocation/{id}/error`.
    Error {
        at: Instant,
        id: String,
        body: Vec<u8>,
    },
    /// `POST .../init/error`.
    InitError { body: Vec<u8> },
}

/// Listens on a free loopback port; returns "127.0.0.1:port" (AWS_LAMBDA_RUNTIME_API) and the
/// channel of everything functions do.
pub fn start() -> std::io::Result<(String, Receiver<Seen>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            thread::spawn(move || serve(stream, &tx));
        }
    });
    Ok((addr, rx))
}

fn serve(stream: TcpStream, tx: &Sender<Seen>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(req)) = read_message(&mut reader, false) {
        let at = Instant::now();
        let (method, path) = req.method_path();
        let (method, path) = (method.to_owned(), path.to_owned());
        let Some(rest) = path.strip_prefix(PREFIX) else {
            let _ = respond(&mut writer, "404 Not Found", &[], b"{}");
            continue;
        };
        let accepted = |w: &mut TcpStream| {
            respond(
                w,
                "202 Accepted",
                &[("Content-Type", "application/json".into())],
                br#"{"status":"OK"}"#,
            )
        };
        if method == "GET" && rest == "/invocation/next" {
            let (reply, work) = mpsc::sync_channel(1);
            if tx.send(Seen::Next { at, reply }).is_err() {
                return;
            }
            // The driver drops the sender to end this process's run: close the connection.
            let Ok(inv) = work.recv() else { return };
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 60_000)
                .unwrap_or_default();
            let headers = [
                ("Content-Type", "application/json".to_owned()),
                ("Lambda-Runtime-Aws-Request-Id", inv.id.clone()),
                ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    inv.function_arn.clone(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    format!(
                        "Root=1-674d0000-{:0>24};Parent=53995c3f42cd8ad8;Sampled=0",
                        inv.id.replace('-', "").chars().take(24).collect::<String>()
                    ),
                ),
            ];
            // Stamped before the write: a fast function answers before this thread is
            // scheduled again, so a stamp taken after it could land after the response.
            let before = Instant::now();
            if respond(&mut writer, "200 OK", &headers, &inv.body).is_err() {
                return;
            }
            let _ = tx.send(Seen::Sent { at: before });
        } else if method == "POST" && rest == "/init/error" {
            let _ = tx.send(Seen::InitError { body: req.body });
            let _ = accepted(&mut writer);
        } else if let Some(tail) = rest
            .strip_prefix("/invocation/")
            .filter(|_| method == "POST")
        {
            let (id, kind) = tail.split_once('/').unwrap_or((tail, ""));
            let id = id.to_owned();
            let body = req.body;
            let seen = match kind {
                "response" => Seen::Response { at, id },
                "error" => Seen::Error { at, id, body },
                _ => {
                    let _ = respond(&mut writer, "404 Not Found", &[], b"{}");
                    continue;
                }
            };
            let _ = tx.send(seen);
            let _ = accepted(&mut writer);
        } else {
            let _ = respond(&mut writer, "404 Not Found", &[], b"{}");
        }
    }
}
