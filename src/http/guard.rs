//! What a browser-facing request must show and what every response carries: the `Host`
//! allow-list, the same-origin check (scheme included) and the security headers (CSP, frame,
//! referrer and sniffing protection).

use crate::engine::app::AppState;
use crate::http::error::ApiError;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;
use tower_http::set_header::SetResponseHeaderLayer;

/// The Content-Security-Policy of every response but the page itself (see [`page_csp`]): the
/// client's scripts, styles and connections come from this server alone; no inline script or
/// style attribute, no plugin, no framing, no `<base>` and forms only to this server.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'; object-src 'none'";

/// The page's policy: [`CSP`] with this host's websocket origins named in `connect-src` (a
/// browser that predates CSP level 3 does not count `ws:`/`wss:` as `'self'`). A `Host` with
/// characters a host name cannot have gets the plain policy.
pub fn page_csp(headers: &HeaderMap) -> HeaderValue {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    let policy = match host {
        Some(h) => CSP.replace(
            "connect-src 'self'",
            &format!("connect-src 'self' ws://{h} wss://{h}"),
        ),
        None => CSP.to_string(),
    };
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static(CSP))
}

/// Every route wrapped in the `Host` check ([`check_host`]) and the security headers, each a
/// tower-http layer that sets its header unless the handler set its own (the page sets its CSP
/// with its host, [`page_csp`]).
pub fn guarded(router: axum::Router<AppState>, app: &AppState) -> axum::Router<AppState> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            check_host,
        ))
        .layer(set(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
}

/// Paths served whatever the `Host`: probes from load balancers often name the node by address.
const ANY_HOST: &[&str] = &["/healthz", "/readyz"];

/// Whether `host` (a `Host` header: `name`, `name:port`, `[v6]:port`) is in `allowed`: an entry
/// `name` allows it on any port, `name:port` on that port only (names compared ignoring case).
pub fn host_allowed(allowed: &[String], host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host.as_str(),
    };
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        a == host || a == name
    })
}

/// Refuses a request whose `Host` is not in `--allowed-hosts` (when the list is set) with
/// 400 `bad_host`, before any route runs.
pub async fn check_host(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let allowed = &app.limits.allowed_hosts;
    if allowed.is_empty() || ANY_HOST.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if host.is_some_and(|h| host_allowed(allowed, h)) {
        next.run(req).await
    } else {
        ApiError::BadHost.into_response()
    }
}

/// The scheme the client used: `X-Forwarded-Proto` when a trusted proxy (`--trusted-proxies`)
/// sent the request, else the scheme of `--public-url` when the request names its host, else
/// `http` (the server itself speaks plain HTTP; TLS ends at a proxy).
fn scheme_of(app: &AppState, peer: Option<IpAddr>, headers: &HeaderMap, host: &str) -> String {
    let trusted = peer.is_some_and(|ip| app.limits.trusted_proxies.iter().any(|n| n.contains(&ip)));
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| v == "http" || v == "https");
    if let (true, Some(proto)) = (trusted, forwarded) {
        return proto;
    }
    match app.public_url.split_once("://") {
        Some((scheme, rest))
            if rest
                .split('/')
                .next()
                .unwrap_or("")
                .eq_ignore_ascii_case(host) =>
        {
            scheme.to_ascii_lowercase()
        }
        _ => "http".into(),
    }
}

/// A browser's `Origin` must be this server's own origin (`scheme://Host`, see [`scheme_of`])
/// or one of `--allowed-origins` (exact match); otherwise 403. Clients that send none (not
/// browsers) are not subject to cross-site attacks and pass. `peer` is the TCP peer's address.
pub fn check_origin(
    app: &AppState,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let own = !host.is_empty()
        && origin
            .eq_ignore_ascii_case(&format!("{}://{host}", scheme_of(app, peer, headers, host)));
    if own || app.limits.allowed_origins.iter().any(|o| o == origin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "origin {origin} is not allowed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_by_name_or_by_name_and_port() {
        let list = ["plan.example.com".to_string(), "[::1]:8080".into()];
        for ok in ["plan.example.com", "Plan.Example.com:443", "[::1]:8080"] {
            assert!(host_allowed(&list, ok), "{ok}");
        }
        for bad in [
            "example.com",
            "plan.example.com.evil",
            "[::1]:8081",
            "[::1]",
            "",
        ] {
            assert!(!host_allowed(&list, bad), "{bad}");
        }
    }

    #[test]
    fn the_page_policy_names_only_a_well_formed_host() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("plan.example.com:8443"),
        );
        let csp = page_csp(&h);
        assert!(csp.to_str().unwrap().contains(
            "connect-src 'self' ws://plan.example.com:8443 wss://plan.example.com:8443;"
        ));
        h.insert(header::HOST, HeaderValue::from_static("x; script-src *"));
        assert_eq!(page_csp(&h), CSP);
    }
}
