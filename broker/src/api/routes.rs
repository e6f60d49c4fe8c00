//! The route table: every admin route is added through [`Api`], which records its method,
//! path and summary, so the OpenAPI document ([`openapi`]) is generated from the same table
//! the router is built from and cannot drift from it.

use std::sync::Arc;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};
use serde_json::{Map, Value, json};

use super::state::AdminState;

/// One documented route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDoc {
    /// `get`, `post`, `put`, `patch`, `delete`.
    pub method: &'static str,
    /// Full path with `{param}` placeholders.
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Needs a bearer token.
    pub auth: bool,
}

/// Router plus its route table.
#[derive(Debug)]
pub struct Api {
    router: Router<Arc<AdminState>>,
    docs: Vec<RouteDoc>,
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! verb {
    ($name:ident, $filter:expr, $m:literal) => {
        /// Adds a route needing a bearer token.
        pub fn $name<H, T>(self, path: &'static str, summary: &'static str, h: H) -> Self
        where
            H: Handler<T, Arc<AdminState>>,
            T: 'static,
        {
            self.add($m, $filter, path, summary, true, h)
        }
    };
}

impl Api {
    /// Empty.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            docs: Vec::new(),
        }
    }

    /// Adds one route.
    pub fn add<H, T>(
        mut self,
        method: &'static str,
        filter: MethodFilter,
        path: &'static str,
        summary: &'static str,
        auth: bool,
        h: H,
    ) -> Self
    where
        H: Handler<T, Arc<AdminState>>,
        T: 'static,
    {
        self.router = self.router.route(path, on(filter, h));
        self.docs.push(RouteDoc {
            method,
            path,
            summary,
            auth,
        });
        self
    }

    /// Adds a route open to anyone (login, OpenAPI, metrics).
    pub fn public<H, T>(
        self,
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        h: H,
    ) -> Self
    where
        H: Handler<T, Arc<AdminState>>,
        T: 'static,
    {
        let filter = match method {
            "post" => MethodFilter::POST,
            _ => MethodFilter::GET,
        };
        self.add(method, filter, path, summary, false, h)
    }

    verb!(get, MethodFilter::GET, "get");
    verb!(post, MethodFilter::POST, "post");
    verb!(put, MethodFilter::PUT, "put");
    verb!(patch, MethodFilter::PATCH, "patch");
    verb!(delete, MethodFilter::DELETE, "delete");

    /// The router and the table.
    pub fn finish(self) -> (Router<Arc<AdminState>>, Vec<RouteDoc>) {
        (self.router, self.docs)
    }
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect()
}

/// The OpenAPI 3.0 document of `docs`.
pub fn openapi(docs: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for d in docs {
        let entry = paths
            .entry(d.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let mut op = json!({
            "summary": d.summary,
            "operationId": format!("{}{}", d.method, d.path.replace(['/', '{', '}', '-', '.'], "_")),
            "parameters": path_params(d.path),
            "responses": {
                "200": {"description": "success (JSON, or text for /metrics and CSV audit)"},
                "default": {
                    "description": "error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            }
        });
        if d.method == "post" || d.method == "put" || d.method == "patch" {
            op["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": {"type": "object"}}}
            });
        }
        if d.auth {
            op["security"] = json!([{"bearer": []}]);
        }
        if let Value::Object(m) = entry {
            m.insert(d.method.to_owned(), op);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Switchboard admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Login, users, groups, roles, role assignments, deployment packages, devices, OnDemand keys, check permissions, sessions and audit. Errors are {code, message}."
        },
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
            }}
        }
    })
}
