//! The six functions, each with the route table its `lib.rs` declares: which function a
//! request goes to is read from the tables, as API Gateway's routes (template.yaml, which
//! the drift tests hold to the same tables) pick it.

use std::pin::Pin;

use lambda_http::{Body, Request, Response};
use omnisession::AppState;
use omnisession::routes::Route;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    Session,
    Auth,
    Qr,
    SalesMemory,
    WhatsApp,
    Verify,
}

impl Function {
    pub const ALL: [Function; 6] = [
        Function::Session,
        Function::Auth,
        Function::Qr,
        Function::SalesMemory,
        Function::WhatsApp,
        Function::Verify,
    ];

    /// The cargo package and binary (`target/lambda/<name>`), the name template.yaml's
    /// `Metadata.BuildProperties.Binary` gives it.
    pub fn package(self) -> &'static str {
        match self {
            Function::Session => "session",
            Function::Auth => "auth",
            Function::Qr => "qr",
            Function::SalesMemory => "sales-memory",
            Function::WhatsApp => "whatsapp",
            Function::Verify => "verify",
        }
    }

    /// The function's route table.
    pub fn routes(self) -> &'static [Route] {
        match self {
            Function::Session => session::ROUTES,
            Function::Auth => auth::ROUTES,
            Function::Qr => qr::ROUTES,
            Function::SalesMemory => sales_memory::ROUTES,
            Function::WhatsApp => whatsapp::ROUTES,
            Function::Verify => verify::ROUTES,
        }
    }

    /// Every route of every function, with its function.
    pub fn all_routes() -> impl Iterator<Item = (Function, &'static Route)> {
        Self::ALL
            .into_iter()
            .flat_map(|f| f.routes().iter().map(move |r| (f, r)))
    }

    /// The function serving `method` on `path`; for a method it does not serve, the
    /// function serving the path; `None` for a path no function serves.
    pub fn serving(method: &str, path: &str) -> Option<Function> {
        let by_path: Vec<(Function, &Route)> = Self::all_routes()
            .filter(|(_, r)| r.match_path(path).is_some())
            .collect();
        let by_method = by_path.iter().find(|(_, r)| r.method == method);
        by_method.or(by_path.first()).map(|(f, _)| *f)
    }

    /// The function's handler for `req`, boxed: held inline, the largest of the five
    /// handlers' futures, copied through the callers' layers, overflows a test thread's
    /// stack in debug builds.
    pub fn handle<'a>(
        self,
        state: &'a AppState,
        req: Request,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>> {
        match self {
            Function::Session => Box::pin(session::handle(state, req)),
            Function::Auth => Box::pin(auth::handle(state, req)),
            Function::Qr => Box::pin(qr::handle(state, req)),
            Function::SalesMemory => Box::pin(sales_memory::handle(state, req)),
            Function::WhatsApp => Box::pin(whatsapp::handle(state, req)),
            Function::Verify => Box::pin(verify::handle(state, req)),
        }
    }
}
