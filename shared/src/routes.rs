//! A function's route table: each route once, as API Gateway names it (method and path
//! template, `{param}` for a path segment), with its handler. The same table dispatches
//! requests and lists the routes (for the tests that keep template.yaml, the local
//! router and openapi.yaml in step with the code, and for the bench).

use std::pin::Pin;

use lambda_http::Request;

use crate::AppState;
use crate::http::{self, HttpResult};

/// A handler's answer, boxed so that handlers of different routes fit in one table.
pub type Answer<'a> = Pin<Box<dyn Future<Output = HttpResult> + Send + 'a>>;

/// A route's handler: the state, the request and the path's `{param}` segments.
pub type Handler = for<'a> fn(&'a AppState, &'a Request, &'a Params<'a>) -> Answer<'a>;

pub struct Route {
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// API Gateway's path template, e.g. `/session/{sid}/summary`.
    pub path: &'static str,
    pub handler: Handler,
}

impl Route {
    pub const fn new(method: &'static str, path: &'static str, handler: Handler) -> Self {
        Self {
            method,
            path,
            handler,
        }
    }

    /// The `{param}` segments of `path` if it has this route's shape (any method).
    pub fn match_path<'p>(&self, path: &'p str) -> Option<Params<'p>> {
        let mut params = Vec::new();
        let mut template = self.path.split('/');
        let mut actual = path.split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return Some(Params(params)),
                (Some(t), Some(a)) => match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) => params.push((name, a)),
                    None if t == a => {}
                    None => return None,
                },
                _ => return None,
            }
        }
    }

    /// Whether this route serves `method` on `path`.
    pub fn serves(&self, method: &str, path: &str) -> bool {
        self.method == method && self.match_path(path).is_some()
    }
}

/// The values of a route's `{param}` segments in one request's path.
#[derive(Debug, Default)]
pub struct Params<'p>(Vec<(&'static str, &'p str)>);

impl<'p> Params<'p> {
    /// The segment named `{name}` in the route's template (panics if the template has none:
    /// a mistake in the table, which any request on the route shows).
    pub fn get(&self, name: &str) -> &'p str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| *value)
            .unwrap_or_else(|| panic!("the route's path has no {{{name}}}"))
    }
}

/// Runs the handler of the route serving `req`; a path or method the table does not serve
/// is [`http::no_route`]'s 404.
pub async fn dispatch(routes: &[Route], state: &AppState, req: &Request) -> HttpResult {
    let method = req.method().as_str();
    let path = req.uri().path();
    for route in routes.iter().filter(|r| r.method == method) {
        if let Some(params) = route.match_path(path) {
            return (route.handler)(state, req, &params).await;
        }
    }
    Err(http::no_route(req))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none<'a>(_: &'a AppState, _: &'a Request, _: &'a Params<'a>) -> Answer<'a> {
        Box::pin(async { Err(crate::error::ApiError::Unavailable) })
    }

    #[test]
    fn templates_match_whole_segments_and_capture_params() {
        let route = Route::new("GET", "/session/{sid}/summary", none);
        assert_eq!(
            route.match_path("/session/abc/summary").unwrap().get("sid"),
            "abc"
        );
        assert_eq!(
            route.match_path("/session//summary").unwrap().get("sid"),
            ""
        );
        for path in [
            "/session/abc/summary/",
            "/session/a/b/summary",
            "/session/abc/cart",
            "/session/abc",
            "/session/summary",
        ] {
            assert!(route.match_path(path).is_none(), "{path}");
        }
        assert!(route.serves("GET", "/session/x/summary"));
        assert!(!route.serves("POST", "/session/x/summary"));
        let plain = Route::new("POST", "/session/start", none);
        assert!(plain.serves("POST", "/session/start"));
        assert!(!plain.serves("POST", "/session/start/"));
        assert!(!plain.serves("POST", "/session/starts"));
    }
}
