//! Limits that hold under abuse: the `[limits]` table of the config, the
//! request-rate limiter (per token, and per client address for requests
//! without a token), and the middleware that applies them. Every refusal is
//! a JSON error with `Retry-After` where waiting helps, and is counted in
//! `/metrics` (`rongxin_http_limited_total{limit, scope}`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;

use super::{ApiError, AppState, caller};

/// The `[limits]` table as written; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    header_timeout: Option<String>,
    request_timeout: Option<String>,
    max_header_bytes: Option<usize>,
    max_uri_bytes: Option<usize>,
    anonymous_rate: Option<f64>,
    anonymous_burst: Option<f64>,
    token_rate: Option<f64>,
    token_burst: Option<f64>,
}

/// The limits in force.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open HTTP connections at most (kept below the process's file limit).
    pub max_connections: usize,
    /// Open HTTP connections from one client address at most.
    pub max_connections_per_address: usize,
    /// Time a client has to send a request's headers; also the idle keep-alive time.
    pub header_timeout: Duration,
    /// Time one request may take, body and answer included.
    pub request_timeout: Duration,
    /// Request headers, in bytes, at most.
    pub max_header_bytes: usize,
    /// Request URI (path and query), in bytes, at most.
    pub max_uri_bytes: usize,
    /// Requests per second per client address, for requests without a token.
    pub anonymous_rate: f64,
    /// Requests a client address may send at once above its rate.
    pub anonymous_burst: f64,
    /// Requests per second per token.
    pub token_rate: f64,
    /// Requests a token may send at once above its rate.
    pub token_burst: f64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            max_connections_per_address: 256,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_header_bytes: 32 * 1024,
            max_uri_bytes: 8 * 1024,
            anonymous_rate: 20.0,
            anonymous_burst: 60.0,
            token_rate: 10_000.0,
            token_burst: 20_000.0,
        }
    }
}

impl Limits {
    /// Checks the table; the error names the key and the fix.
    pub fn from_file(f: &LimitsFile) -> Result<Limits, String> {
        let d = Limits::default();
        let count = |key: &str, v: Option<usize>, default: usize| match v {
            Some(0) => Err(format!("limits.{key} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let rate = |key: &str, v: Option<f64>, default: f64| match v {
            Some(r) if !(r.is_finite() && r > 0.0) => Err(format!(
                "limits.{key} = {r} must be a positive number of requests"
            )),
            Some(r) => Ok(r),
            None => Ok(default),
        };
        let duration = |key: &str, v: &Option<String>, default: Duration| match v {
            None => Ok(default),
            Some(s) => match humantime::parse_duration(s) {
                Ok(d) if d >= Duration::from_millis(100) => Ok(d),
                Ok(_) => Err(format!("limits.{key} = \"{s}\" is below 100ms")),
                Err(e) => Err(format!("limits.{key} = \"{s}\": {e} (write e.g. \"10s\")")),
            },
        };
        let limits = Limits {
            max_connections: count("max_connections", f.max_connections, d.max_connections)?,
            max_connections_per_address: count(
                "max_connections_per_address",
                f.max_connections_per_address,
                d.max_connections_per_address,
            )?,
            header_timeout: duration("header_timeout", &f.header_timeout, d.header_timeout)?,
            request_timeout: duration("request_timeout", &f.request_timeout, d.request_timeout)?,
            max_header_bytes: count("max_header_bytes", f.max_header_bytes, d.max_header_bytes)?,
            max_uri_bytes: count("max_uri_bytes", f.max_uri_bytes, d.max_uri_bytes)?,
            anonymous_rate: rate("anonymous_rate", f.anonymous_rate, d.anonymous_rate)?,
            anonymous_burst: rate("anonymous_burst", f.anonymous_burst, d.anonymous_burst)?,
            token_rate: rate("token_rate", f.token_rate, d.token_rate)?,
            token_burst: rate("token_burst", f.token_burst, d.token_burst)?,
        };
        if limits.max_header_bytes > 1024 * 1024 {
            return Err("limits.max_header_bytes must be at most 1048576".into());
        }
        if limits.max_connections_per_address > limits.max_connections {
            return Err(
                "limits.max_connections_per_address is above limits.max_connections".into(),
            );
        }
        Ok(limits)
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Most buckets kept per scope; beyond it, full (idle) buckets are dropped.
const MAX_BUCKETS: usize = 100_000;

/// Request-rate limiter, one bucket per key.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: std::hash::Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` requests per second with bursts of `burst`.
    pub fn new(rate: f64, burst: f64) -> RateLimiter<K> {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request for `key` at `now`: `Ok` or how long to wait.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            // Buckets that have refilled carry no state worth keeping.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
            if buckets.len() >= MAX_BUCKETS {
                return Err(Duration::from_secs(1));
            }
        }
        let b = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }
}

/// The node's rate limiters.
#[derive(Debug)]
pub struct RateLimits {
    anonymous: RateLimiter<IpAddr>,
    tokens: RateLimiter<String>,
}

impl RateLimits {
    /// Limiters for `limits`.
    pub fn new(limits: &Limits) -> RateLimits {
        RateLimits {
            anonymous: RateLimiter::new(limits.anonymous_rate, limits.anonymous_burst),
            tokens: RateLimiter::new(limits.token_rate, limits.token_burst),
        }
    }
}

/// Refuses requests over the URI and header size limits or over the rate
/// of their token or client address, and bounds each request's time.
pub async fn enforce(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let limits = &state.limits;
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > limits.max_uri_bytes {
        state.metrics.count_limited("uri", "request");
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the request URI is {uri_len} bytes, more than limits.max_uri_bytes = {}",
                limits.max_uri_bytes
            ),
        )
        .into_response();
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        state.metrics.count_limited("headers", "request");
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request headers are {header_bytes} bytes, more than limits.max_header_bytes = {}",
                limits.max_header_bytes
            ),
        )
        .into_response();
    }
    let path = req.uri().path();
    // Liveness and metrics scrapes are not rationed: a monitor polling a
    // busy node must not be told it is down.
    if path != "/healthz" && path != "/metrics" {
        let now = Instant::now();
        let taken = match caller(&state, req.headers()) {
            Ok(Some(t)) => state.rate.tokens.take(&t.id, now).map_err(|w| (w, "token")),
            // An unknown or malformed token is refused by the handler; it
            // still counts against the client's address.
            Ok(None) | Err(_) => {
                let ip = req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip());
                match ip {
                    Some(ip) => state
                        .rate
                        .anonymous
                        .take(&ip, now)
                        .map_err(|w| (w, "address")),
                    None => Ok(()),
                }
            }
        };
        if let Err((wait, scope)) = taken {
            state.metrics.count_limited("rate", scope);
            let secs = wait.as_secs().max(1);
            let message = if scope == "token" {
                format!(
                    "this token sent more than limits.token_rate = {} requests per second; retry in {secs} s",
                    limits.token_rate
                )
            } else {
                format!(
                    "this address sent more than limits.anonymous_rate = {} requests per second without a token; retry in {secs} s, or ask the node's operator for a token",
                    limits.anonymous_rate
                )
            };
            let mut resp = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            return resp;
        }
    }
    match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            state.metrics.count_limited("time", "request");
            let mut resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request took longer than limits.request_timeout = {:?}; an ingest that timed out may still have been committed: resubmit it (duplicates are recognised)",
                    limits.request_timeout
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(1u64));
            resp.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let rl: RateLimiter<u8> = RateLimiter::new(10.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.take(&1, t0).is_ok());
        }
        let wait = rl.take(&1, t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        // Another key has its own bucket.
        assert!(rl.take(&2, t0).is_ok());
        // 100 ms later one more request is allowed, not two.
        let t1 = t0 + Duration::from_millis(100);
        assert!(rl.take(&1, t1).is_ok());
        assert!(rl.take(&1, t1).is_err());
    }

    #[test]
    fn limits_are_checked() {
        let bad = LimitsFile {
            anonymous_rate: Some(0.0),
            ..LimitsFile::default()
        };
        assert!(
            Limits::from_file(&bad)
                .unwrap_err()
                .contains("anonymous_rate")
        );
        let bad = LimitsFile {
            header_timeout: Some("soon".into()),
            ..LimitsFile::default()
        };
        assert!(
            Limits::from_file(&bad)
                .unwrap_err()
                .contains("header_timeout")
        );
        let bad = LimitsFile {
            max_connections: Some(10),
            max_connections_per_address: Some(20),
            ..LimitsFile::default()
        };
        assert!(Limits::from_file(&bad).is_err());
        assert!(Limits::from_file(&LimitsFile::default()).is_ok());
    }
}
