//! `GET /metrics` over HTTP/1 (hyper): the gauges that describe the present
//! (pipeline lag and state, open sessions) are set at the moment of the
//! scrape by a function the server hands in ([`Gauges`]), then everything is
//! rendered in Prometheus' text format.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use super::QUERY_SECONDS_BUCKETS;
use crate::error::{BrookError, Result};

/// Sets the gauges of the present moment; called on every scrape.
pub type Gauges = Arc<dyn Fn() + Send + Sync>;

/// The metrics endpoint, bound and with its recorder installed.
pub struct Exporter {
    listener: TcpListener,
    handle: PrometheusHandle,
}

/// Bind `addr` and install the process's metrics recorder. Fails (and the
/// server does not start) if the address is taken.
pub async fn bind(addr: SocketAddr) -> Result<Exporter> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| BrookError::Unsupported(format!("serving metrics on {addr}: {e}")))?;
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("brook_query_duration_seconds".to_string()),
            QUERY_SECONDS_BUCKETS,
        )
        .and_then(|b| b.install_recorder())
        .map_err(|e| BrookError::Unsupported(format!("metrics recorder: {e}")))?;
    Ok(Exporter { listener, handle })
}

impl Exporter {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Answer scrapes until `stop` turns true.
    pub async fn run(self, gauges: Gauges, mut stop: watch::Receiver<bool>) {
        info!(addr = ?self.local_addr(), "serving Prometheus metrics at /metrics");
        let scrape = Arc::new(Scrape {
            gauges,
            handle: self.handle,
        });
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = stop.changed() => return,
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    warn!(error = %e, "metrics accept failed");
                    continue;
                }
            };
            let scrape = scrape.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let scrape = scrape.clone();
                    async move { Ok::<_, Infallible>(scrape.answer(&request)) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await
                {
                    warn!(%peer, error = %e, "metrics connection ended with an error");
                }
            });
        }
    }
}

struct Scrape {
    gauges: Gauges,
    handle: PrometheusHandle,
}

impl Scrape {
    fn answer(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET || request.uri().path() != "/metrics" {
            return respond(
                StatusCode::NOT_FOUND,
                "text/plain",
                "only GET /metrics is served\n",
            );
        }
        (self.gauges)();
        respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            self.handle.render(),
        )
    }
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
