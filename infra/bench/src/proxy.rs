//! The functions' `AWS_ENDPOINT_URL`: a pass-through to the emulator that names every AWS call
//! (service and operation, from the request itself) and adds up the wall time during which at
//! least one call was outstanding — the part of an invocation spent waiting on "AWS".

use crate::http::{read_message, Message};
use std::collections::BTreeMap;
use std::io::{self, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Book {
    outstanding: usize,
    busy_since: Option<Instant>,
    busy: Duration,
    calls: BTreeMap<String, usize>,
}

/// What the proxy saw since the last [`Proxy::take`].
#[derive(Clone, Debug, Default)]
pub struct Taken {
    pub busy: Duration,
    pub calls: BTreeMap<String, usize>,
}

#[derive(Clone)]
pub struct Proxy {
    book: Arc<Mutex<Book>>,
    pub url: String,
}

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` ("127.0.0.1:port").
    pub fn start(upstream: String) -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let proxy = Proxy {
            book: Arc::default(),
            url,
        };
        let book = Arc::clone(&proxy.book);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let book = Arc::clone(&book);
                let upstream = upstream.clone();
                thread::spawn(move || forward(stream, &upstream, &book));
            }
        });
        Ok(proxy)
    }

    /// Calls and busy time since the last take, and resets both.
    pub fn take(&self) -> Taken {
        let mut b = lock(&self.book);
        let now = Instant::now();
        if let Some(since) = b.busy_since {
            b.busy += now - since;
            b.busy_since = Some(now);
        }
        Taken {
            busy: std::mem::take(&mut b.busy),
            calls: std::mem::take(&mut b.calls),
        }
    }
}

/// "sns:Publish", "sagemaker:DescribeTrainingJob", "monitoring:GetMetricData", ...
pub fn operation(req: &Message) -> String {
    let service = req
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("?");
    let (_, path) = req.method_path();
    let op = if let Some(target) = req.header("x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_owned()
    } else if let Some((_, op)) = path.split_once("/operation/") {
        op.to_owned()
    } else if path.starts_with("/endpoints/") && path.ends_with("/invocations") {
        "InvokeEndpoint".to_owned()
    } else {
        let body = String::from_utf8_lossy(&req.body);
        body.split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{} {}", req.method_path().0, path))
    };
    format!("{service}:{op}")
}

fn forward(client: TcpStream, upstream: &str, book: &Mutex<Book>) {
    let _ = client.set_nodelay(true);
    let Ok(mut client_w) = client.try_clone() else {
        return;
    };
    let mut client_r = BufReader::new(client);
    let mut up: Option<(TcpStream, BufReader<TcpStream>)> = None;
    while let Ok(Some(req)) = read_message(&mut client_r, false) {
        {
            let mut b = lock(book);
            *b.calls.entry(operation(&req)).or_default() += 1;
            b.outstanding += 1;
            if b.outstanding == 1 {
                b.busy_since = Some(Instant::now());
            }
        }
        let bytes = req.to_bytes();
        // A kept-alive upstream connection may have been closed: retry once on a fresh one.
        let mut answer = None;
        for _ in 0..2 {
            if up.is_none() {
                up = connect(upstream).ok();
            }
            let Some((w, r)) = up.as_mut() else { break };
            match w.write_all(&bytes).and_then(|()| read_message(r, true)) {
                Ok(Some(resp)) => {
                    answer = Some(resp);
                    break;
                }
                _ => up = None,
            }
        }
        let ok = match &answer {
            Some(resp) => client_w.write_all(&resp.to_bytes()).is_ok(),
            None => false,
        };
        {
            let mut b = lock(book);
            b.outstanding -= 1;
            if b.outstanding == 0 {
                if let Some(since) = b.busy_since.take() {
                    b.busy += since.elapsed();
                }
            }
        }
        if answer.as_ref().is_some_and(|a| a.until_close) {
            up = None;
        }
        if !ok {
            return;
        }
    }
}

fn connect(upstream: &str) -> io::Result<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect(upstream)?;
    s.set_nodelay(true)?;
    let r = BufReader::new(s.try_clone()?);
    Ok((s, r))
}
