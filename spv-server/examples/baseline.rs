//! The ceiling of the load benchmark (`bench/load.sh`): a bare hyper server on the same
//! transport as `spv-server` (hyper-util, HTTP/1.1 and HTTP/2) that answers every request
//! with a fixed body of N bytes and nothing else: no routing, auth, logging or metrics.
//!
//! ```text
//! cargo run --release -p spv-server --example baseline -- 127.0.0.1:3999 4096
//! ```

use std::convert::Infallible;

use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3999".to_owned());
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4096);
    let body = Bytes::from(vec![b'x'; size]);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("baseline: {size}-byte bodies on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_request| {
                let body = body.clone();
                async move {
                    let response = hyper::Response::builder()
                        .header("content-type", "image/png")
                        .body(http_body_util::Full::new(body))
                        .unwrap_or_default();
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
