//! The web client (`client/`), embedded in the binary and served at `/`.
//!
//! The files are plain ES modules and CSS with no build step, so they are embedded as they are
//! with `include_str!` (one line per file, no dependency): `cargo run --release` alone serves
//! the client. `index.html` is never cached (it is the entry point that names everything else);
//! the other files are revalidated on every load (`no-cache`), since their names carry no hash.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../client/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/app.js"),
    },
    Asset {
        path: "/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/api.js"),
    },
    Asset {
        path: "/socket.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/socket.js"),
    },
    Asset {
        path: "/state.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/state.js"),
    },
    Asset {
        path: "/patch.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/patch.js"),
    },
    Asset {
        path: "/dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/dom.js"),
    },
    Asset {
        path: "/keys.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/keys.js"),
    },
    Asset {
        path: "/model.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/model.js"),
    },
    Asset {
        path: "/board.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/board.js"),
    },
    Asset {
        path: "/backlog.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/backlog.js"),
    },
    Asset {
        path: "/tracker.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/tracker.js"),
    },
    Asset {
        path: "/item.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/item.js"),
    },
    Asset {
        path: "/votes.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/votes.js"),
    },
    Asset {
        path: "/live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/live.js"),
    },
    Asset {
        path: "/timeline.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/timeline.js"),
    },
    Asset {
        path: "/protocol.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/protocol.js"),
    },
    Asset {
        path: "/audit.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/audit.js"),
    },
    Asset {
        path: "/people.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/people.js"),
    },
    Asset {
        path: "/schedule.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/schedule.js"),
    },
    Asset {
        path: "/deadlines.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/deadlines.js"),
    },
    Asset {
        path: "/teams.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../client/teams.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../client/style.css"),
    },
];

/// The router's fallback: an embedded file for `GET`/`HEAD`, otherwise 404 (or 405).
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = match uri.path() {
        "/" => "/index.html",
        p => p,
    };
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let cache = if asset.path == "/index.html" {
        "no-store"
    } else {
        "no-cache"
    };
    let csp = if asset.path == "/index.html" {
        super::guard::page_csp(&headers)
    } else {
        HeaderValue::from_static(super::guard::CSP)
    };
    (
        [
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.body,
    )
        .into_response()
}
