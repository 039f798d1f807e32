//! `hedui serve` (the caseworker workbench) and `hedui users` (workbench accounts).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hedui_store::{NewUser, Role, Store};

/// Where the store lives unless `--store` says otherwise.
pub const DEFAULT_STORE: &str = "sqlite://hedui-data/store.db";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The store: sqlite://PATH (created if missing) or postgres://…
    #[arg(long, default_value = DEFAULT_STORE)]
    pub store: String,
    /// Mark cookies Secure (when served behind TLS).
    #[arg(long)]
    pub secure_cookies: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Add a user; the password is read from HEDUI_NEW_PASSWORD or the first line of stdin.
    Add {
        /// Login name.
        name: String,
        /// city_admin, county_reviewer, township_caseworker, analyst or auditor.
        #[arg(long)]
        role: String,
        /// County code (6 digits) of a county reviewer.
        #[arg(long)]
        county: Option<String>,
        /// Township code (9 digits) of a township caseworker.
        #[arg(long)]
        township: Option<String>,
        /// The store.
        #[arg(long, default_value = DEFAULT_STORE)]
        store: String,
    },
    /// Set a new password (from HEDUI_NEW_PASSWORD or stdin).
    Passwd {
        /// Login name.
        name: String,
        /// The store.
        #[arg(long, default_value = DEFAULT_STORE)]
        store: String,
    },
    /// Disable a user (ends their sessions).
    Disable {
        /// Login name.
        name: String,
        /// The store.
        #[arg(long, default_value = DEFAULT_STORE)]
        store: String,
    },
    /// List users.
    List {
        /// The store.
        #[arg(long, default_value = DEFAULT_STORE)]
        store: String,
    },
    /// Create one user per role for the demo city (admin, auditor, analyst, county_<code>,
    /// township_<code>), all with the password from HEDUI_NEW_PASSWORD or stdin.
    SeedDemo {
        /// The store.
        #[arg(long, default_value = DEFAULT_STORE)]
        store: String,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The new password: `HEDUI_NEW_PASSWORD`, else the first line of stdin (never an argument,
/// so it does not end up in shell history or the process list).
fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("HEDUI_NEW_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    eprintln!("password (one line on stdin):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    if p.is_empty() {
        bail!("no password: set HEDUI_NEW_PASSWORD or pipe it on stdin");
    }
    Ok(p)
}

async fn open(url: &str) -> Result<Store> {
    Store::open(url).await.context("opening the store")
}

pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let store = open(&a.store).await?;
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("listening on {}", a.listen))?;
        let addr = listener.local_addr().context("listener address")?;
        if store.users().await?.is_empty() {
            eprintln!(
                "note: the store has no users yet; add one with `hedui users add NAME --role city_admin --store {}`",
                a.store
            );
        }
        println!("hedui workbench listening on http://{addr}/ (store: {})", store.backend());
        let config = hedui_web::WebConfig {
            secure_cookies: a.secure_cookies,
            ..Default::default()
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        hedui_web::serve(listener, store, config, shutdown)
            .await
            .context("serving the workbench")?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn users(c: UsersCommand) -> Result<ExitCode> {
    let rt = runtime()?;
    match c {
        UsersCommand::Add {
            name,
            role,
            county,
            township,
            store,
        } => {
            let Some(role) = Role::parse(&role) else {
                bail!(
                    "unknown role {role:?}: use one of {}",
                    Role::ALL.map(Role::as_str).join(", ")
                );
            };
            let password = read_password()?;
            rt.block_on(async {
                let s = open(&store).await?;
                let u = s
                    .add_user(
                        &NewUser {
                            username: name,
                            role,
                            county_code: county,
                            township_code: township,
                        },
                        &password,
                    )
                    .await
                    .context("adding the user")?;
                println!(
                    "added user {} ({}, scope {})",
                    u.username,
                    u.role.as_str(),
                    u.scope().describe()
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        UsersCommand::Passwd { name, store } => {
            let password = read_password()?;
            rt.block_on(async {
                open(&store).await?.set_password(&name, &password).await?;
                println!("password of {name} changed");
                Ok(ExitCode::SUCCESS)
            })
        }
        UsersCommand::Disable { name, store } => rt.block_on(async {
            open(&store).await?.set_active(&name, false).await?;
            println!("user {name} disabled");
            Ok(ExitCode::SUCCESS)
        }),
        UsersCommand::List { store } => rt.block_on(async {
            for u in open(&store).await?.users().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.username,
                    u.role.as_str(),
                    u.scope().describe(),
                    if u.active { "active" } else { "disabled" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }),
        UsersCommand::SeedDemo { store } => {
            let password = read_password()?;
            rt.block_on(async {
                let s = open(&store).await?;
                let users = hedui_web::seed_demo_users(&s, &password)
                    .await
                    .context("seeding demo users")?;
                for d in &users {
                    println!(
                        "{}\t{}\t{}\t{}",
                        d.user.username,
                        d.user.role.as_str(),
                        d.user.scope().describe(),
                        if d.created { "created" } else { "exists" }
                    );
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}
