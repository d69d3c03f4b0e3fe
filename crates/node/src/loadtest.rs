//! `deai bench http`: a bounded HTTP load test of the node API on localhost.
//!
//! One process serves the API (axum over an embedded chain in a temporary directory, block
//! producer every 50 ms, rate limiting set out of reach) on `127.0.0.1:0`, and `connections`
//! keep-alive HTTP/1.1 clients on the same tokio runtime hit it, one scenario after the other:
//!
//! 1. `GET /v1/status` — the baseline: routing, middleware, a state read and JSON;
//! 2. `GET /v1/account/{id}` — a path parameter and an account lookup;
//! 3. `POST /v1/tx` — pre-signed borsh transfers, each admitted to the mempool (signature
//!    verification, nonce check) while the producer turns them into blocks.
//!
//! GET scenarios run for a fixed duration; the POST scenario sends a fixed number of
//! transactions. Each reports requests/s and the median and p99 latency, and its throughput as
//! a ratio to the baseline measured in the same run. Clients and server share the machine's
//! cores, so these are lower bounds for a dedicated server.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use deai_chain::GenesisConfig;
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig};
use deai_types::{encode, Amount, Call, ChainId, Nonce, SignedTx, Tx};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::TcpStream,
};

use crate::{
    http::{router, Backend as _},
    service::Embedded,
};

/// Parameters of the load test.
#[derive(Clone, Copy, Debug)]
pub struct HttpLoad {
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Duration of each GET scenario.
    pub seconds: f64,
    /// Transactions posted in the POST scenario.
    pub txs: usize,
}

impl Default for HttpLoad {
    fn default() -> Self {
        Self {
            connections: 16,
            seconds: 3.0,
            txs: 20_000,
        }
    }
}

/// One scenario's result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LoadScenario {
    /// Method and path.
    pub name: String,
    /// Requests answered with the expected status.
    pub ok: u64,
    /// Requests answered otherwise (or failed).
    pub errors: u64,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// requests/s relative to the `GET /v1/status` baseline of this run.
    pub ratio_to_status: f64,
}

/// The whole run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HttpLoadReport {
    /// Connections used.
    pub connections: usize,
    /// Scenarios, baseline first.
    pub scenarios: Vec<LoadScenario>,
    /// Height of the chain at the end (the POST scenario's transactions were included).
    pub final_height: u64,
    /// Transactions included in blocks by the end.
    pub txs_included: u64,
}

/// Errors of the load test.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Setup failed.
    #[error("load test setup: {0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(e: E) -> LoadError {
    LoadError::Setup(e.to_string())
}

/// A minimal keep-alive HTTP/1.1 client: one request at a time on one connection.
struct Client {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Client {
    async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    /// Sends a request and returns the status code (the body is read and dropped).
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> std::io::Result<u16> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n",
            self.host
        );
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if let Some(b) = body {
            out.extend_from_slice(b);
        }
        self.stream.get_mut().write_all(&out).await?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(bad("connection closed"));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(bad("connection closed in headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().map_err(|_| bad("bad content-length"))?;
                }
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok(status)
    }
}

enum Work {
    Get {
        path: String,
        until: Instant,
    },
    Post {
        bodies: Arc<Vec<Vec<u8>>>,
        next: Arc<AtomicUsize>,
    },
}

async fn connection(addr: SocketAddr, work: Arc<Work>, expect: u16) -> (u64, u64, Vec<u32>) {
    let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::new());
    let Ok(mut client) = Client::connect(addr).await else {
        return (0, 1, lat);
    };
    loop {
        let start = Instant::now();
        let result = match &*work {
            Work::Get { path, until } => {
                if start >= *until {
                    break;
                }
                client.request("GET", path, None).await
            }
            Work::Post { bodies, next } => {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                client.request("POST", "/v1/tx", Some(body)).await
            }
        };
        match result {
            Ok(status) if status == expect => {
                ok += 1;
                lat.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                match Client::connect(addr).await {
                    Ok(c) => client = c,
                    Err(_) => break,
                }
            }
        }
    }
    (ok, errors, lat)
}

async fn scenario(
    name: &str,
    addr: SocketAddr,
    connections: usize,
    work: Work,
    expect: u16,
) -> LoadScenario {
    let work = Arc::new(work);
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|_| tokio::spawn(connection(addr, work.clone(), expect)))
        .collect();
    let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::new());
    for t in tasks {
        match t.await {
            Ok((o, e, l)) => {
                ok += o;
                errors += e;
                lat.extend(l);
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    LoadScenario {
        name: name.to_string(),
        ok,
        errors,
        requests_per_s: ok as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        ratio_to_status: 0.0,
    }
}

fn signed_transfers(n: usize) -> Result<(GenesisConfig, Vec<SignedTx>), LoadError> {
    let chain_id = ChainId::new("deai-load").map_err(setup)?;
    let senders = 256usize;
    let (keys, genesis) = crate::bench::funded_senders(&chain_id, senders);
    // Sender-major order: transaction i is sender i % senders's nonce i / senders, so
    // concurrent connections rarely send one sender's nonces out of order.
    let txs = (0..n)
        .map(|i| {
            keys[i % senders].sign_tx(Tx {
                chain_id: chain_id.clone(),
                nonce: Nonce((i / senders) as u64),
                fee: Amount(1),
                call: Call::Transfer {
                    to: keys[(i + 1) % senders].account(),
                    amount: Amount(1),
                },
            })
        })
        .collect();
    Ok((genesis, txs))
}

/// Runs the load test.
pub fn http_load(cfg: HttpLoad) -> Result<HttpLoadReport, LoadError> {
    let (genesis, txs) = signed_transfers(cfg.txs)?;
    let account = genesis
        .accounts
        .first()
        .map(|(a, _)| a.to_string())
        .unwrap_or_default();
    let bodies: Vec<Vec<u8>> = txs.iter().map(encode).collect();
    let dir = tempfile::tempdir().map_err(setup)?;
    let chain = EmbeddedChain::init(
        dir.path(),
        &genesis,
        EmbeddedConfig {
            max_block_txs: 4_096,
            ..EmbeddedConfig::default()
        },
    )
    .map_err(setup)?;
    let blobs = Arc::new(BlobStore::open(dir.path().join("blobs")).map_err(setup)?);
    let backend = Arc::new(Embedded::new(chain));
    let app = router(backend.clone(), blobs, 1e12);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(setup)?;
    let seconds = Duration::from_secs_f64(cfg.seconds.max(0.1));
    let connections = cfg.connections.max(1);
    let report = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(setup)?;
        let addr = listener.local_addr().map_err(setup)?;
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let producer_backend = backend.clone();
        let producer = tokio::spawn(async move {
            let mut ts = 1u64;
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ts += 50;
                let b = producer_backend.clone();
                let t = ts;
                match tokio::task::spawn_blocking(move || b.produce(t)).await {
                    Ok(Ok(_)) => {}
                    _ => break,
                }
            }
        });
        let mut scenarios = Vec::new();
        let get = |path: String| Work::Get {
            path,
            until: Instant::now() + seconds,
        };
        scenarios.push(
            scenario(
                "GET /v1/status",
                addr,
                connections,
                get("/v1/status".into()),
                200,
            )
            .await,
        );
        scenarios.push(
            scenario(
                "GET /v1/account/{id}",
                addr,
                connections,
                get(format!("/v1/account/{account}")),
                200,
            )
            .await,
        );
        scenarios.push(
            scenario(
                "POST /v1/tx (borsh transfer)",
                addr,
                connections,
                Work::Post {
                    bodies: Arc::new(bodies),
                    next: Arc::new(AtomicUsize::new(0)),
                },
                202,
            )
            .await,
        );
        // Let the producer drain the mempool, then stop.
        let deadline = Instant::now() + Duration::from_secs(30);
        while backend.mempool_len() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        producer.abort();
        server.abort();
        let baseline = scenarios.first().map(|s| s.requests_per_s).unwrap_or(0.0);
        for s in &mut scenarios {
            s.ratio_to_status = if baseline > 0.0 {
                s.requests_per_s / baseline
            } else {
                0.0
            };
        }
        let (final_height, txs_included) = backend.height_and_tx_count();
        Ok::<_, LoadError>(HttpLoadReport {
            connections,
            scenarios,
            final_height,
            txs_included,
        })
    })?;
    Ok(report)
}
