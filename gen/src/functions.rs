//! The made-up application the generator profiles: a web service's own modules plus the libraries under
//! them, with names, files and definition lines shaped like real Python code.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One profiled function.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    /// `__module__`, e.g. `app.views.orders`.
    pub module: String,
    /// `__qualname__`, e.g. `OrderView.get`.
    pub qualname: String,
    pub file: String,
    pub first_line: u32,
    /// How many lines its body has (line records fall inside).
    pub body_lines: u32,
    /// A generator or coroutine: its calls suspend and resume before they end.
    pub is_generator: bool,
}

impl Function {
    /// What the original's log shows in its `module` column: the file's stem (logging's `%(module)s`).
    pub fn file_stem(&self) -> &str {
        let name = self.file.rsplit('/').next().unwrap_or(&self.file);
        name.strip_suffix(".py").unwrap_or(name)
    }

    /// What the original's log shows in its `funcName` column: the code object's name, without classes.
    pub fn code_name(&self) -> &str {
        self.qualname.rsplit('.').next().unwrap_or(&self.qualname)
    }
}

const APP_PACKAGES: &[&str] = &["app", "api", "billing", "accounts", "catalog", "search", "notifications", "core"];
const APP_MODULES: &[&str] =
    &["views", "models", "serializers", "services", "utils", "tasks", "handlers", "forms", "permissions", "cache"];
const LIBRARIES: &[&str] = &[
    "django.db.models.query",
    "django.db.backends.utils",
    "django.core.handlers.base",
    "django.template.base",
    "django.utils.functional",
    "sqlalchemy.orm.session",
    "sqlalchemy.engine.base",
    "requests.sessions",
    "urllib3.connectionpool",
    "json.decoder",
    "json.encoder",
    "jinja2.environment",
    "redis.client",
    "logging",
    "copy",
    "re",
];
const CLASSES: &[&str] = &[
    "OrderView",
    "UserSerializer",
    "Handler",
    "QuerySet",
    "Session",
    "InvoiceService",
    "CartManager",
    "SearchIndex",
    "Cursor",
    "Template",
    "Connection",
    "Paginator",
    "TokenValidator",
    "RateLimiter",
    "EventBus",
    "Repository",
];
const METHODS: &[&str] = &[
    "get",
    "post",
    "save",
    "validate",
    "to_representation",
    "filter",
    "execute",
    "render",
    "dispatch",
    "_fetch_all",
    "__iter__",
    "__init__",
    "resolve",
    "commit",
    "send",
    "encode",
    "decode",
    "lookup",
    "refresh",
    "clean",
];
const VERBS: &[&str] = &[
    "get",
    "load",
    "build",
    "parse",
    "compute",
    "fetch",
    "update",
    "check",
    "format",
    "normalize",
    "apply",
    "iter",
    "_prepare",
    "_resolve",
    "_emit",
    "serialize",
];
const NOUNS: &[&str] = &[
    "user",
    "order",
    "rows",
    "payload",
    "price",
    "cart",
    "token",
    "headers",
    "query",
    "context",
    "results",
    "page",
    "invoice",
    "permissions",
    "items",
    "config",
];

/// `count` distinct functions, roughly a third in the application and the rest in libraries.
pub(crate) fn make_functions(rng: &mut ChaCha8Rng, count: u32, generator_rate: f64) -> Vec<Function> {
    let mut seen = HashSet::new();
    let mut functions = Vec::with_capacity(count as usize);
    while functions.len() < count as usize {
        let in_app = rng.gen_bool(0.35);
        let (module, file) = if in_app {
            let package = APP_PACKAGES.choose(rng).copied().unwrap_or("app");
            let module = APP_MODULES.choose(rng).copied().unwrap_or("views");
            (format!("{package}.{module}"), format!("/srv/app/{package}/{module}.py"))
        } else {
            let module = LIBRARIES.choose(rng).copied().unwrap_or("json");
            (module.to_owned(), format!("/usr/lib/python3.11/site-packages/{}.py", module.replace('.', "/")))
        };
        let mut qualname = if rng.gen_bool(0.55) {
            let class = CLASSES.choose(rng).copied().unwrap_or("Handler");
            let method = METHODS.choose(rng).copied().unwrap_or("get");
            format!("{class}.{method}")
        } else {
            let verb = VERBS.choose(rng).copied().unwrap_or("get");
            let noun = NOUNS.choose(rng).copied().unwrap_or("rows");
            format!("{verb}_{noun}")
        };
        if !seen.insert((module.clone(), qualname.clone())) {
            // Name space exhausted for this pair: number it like a helper (`get_rows_2`).
            qualname = format!("{qualname}_{}", functions.len());
            seen.insert((module.clone(), qualname.clone()));
        }
        functions.push(Function {
            module,
            qualname,
            file,
            first_line: rng.gen_range(1..1800),
            body_lines: rng.gen_range(2..60),
            is_generator: rng.gen_bool(if generator_rate.is_nan() { 0.0 } else { generator_rate.clamp(0.0, 1.0) }),
        });
    }
    functions
}
