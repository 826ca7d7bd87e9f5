//! Remote mode: the commands that talk to an spv server through `spv-client`.
//!
//! | module | what |
//! |---|---|
//! | [`session`] | which server and credential (`--server`, `SPV_API_KEY`, the stored login); errors with hints |
//! | [`credentials`] | the login stored by `spv-cli login` (`credentials.json`, mode 0600) |
//! | [`documents`] | `documents list\|get\|put\|delete`, `thumbnail` |
//! | [`assets`] | `assets upload\|get\|list\|delete` (streamed both ways) |
//! | [`jobs`] | `jobs render\|status\|watch\|cancel\|list` (events as a progress bar) |
//! | [`keys`] | `keys create\|list\|revoke` with `--server` |
//! | [`files`], [`table`] | files read and written whole, human and JSON output |
//!
//! Each command runs on a current-thread runtime; everything that blocks (the password
//! prompt, reading the stored login) happens before the runtime runs, or in
//! `spawn_blocking`.

mod assets;
mod credentials;
mod documents;
mod files;
mod jobs;
mod keys;
mod session;
mod table;
mod watch;

use anyhow::{Context as _, bail};
use spv::api::{GetMe, Principal, Secret};

use self::credentials::Store;
use self::session::{Session, Target};
use crate::cli::{Cli, Command, LoginArgs};
use crate::output::Outcome;

/// The longest password accepted from SPV_PASSWORD or the prompt.
const MAX_PASSWORD_LEN: usize = 1024;

/// Runs a remote command: `login`, `logout`, `documents`, `assets`, `thumbnail`, `jobs`,
/// and `keys` when `--server` is set.
pub(crate) fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let target = Target {
        server: cli.server.clone(),
        api_key: cli.api_key.clone(),
    };
    if let Command::Logout = cli.command {
        return logout(&Store::locate()?);
    }
    if let Command::Keys(args) = &cli.command {
        keys::refuse_local_flags(&args.command)?;
    }
    if let Command::Jobs(args) = &cli.command
        && let Err(problem) = args.command.check_lists()
    {
        bail!("{problem}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The client is built inside the runtime's context; nothing runs on it yet, so the
    // file reads of `connect` block nothing.
    let _entered = runtime.enter();
    let session = match &cli.command {
        Command::Login(args) => {
            let store = Store::locate()?;
            let server = match &target.server {
                Some(server) => server.clone(),
                None => match store.load()? {
                    Some(stored) => stored.server,
                    None => bail!("login needs a server: pass --server URL or set SPV_SERVER"),
                },
            };
            let password = read_password(args)?;
            if target.api_key.is_some() {
                eprintln!(
                    "spv-cli: note: an API key is set (SPV_API_KEY or --api-key); while it is, \
                     the commands use it instead of this login"
                );
            }
            let session = Session::with_password(&server, &args.username, password, &store)?;
            return runtime.block_on(login(session, &args.username, &store));
        }
        _ => Session::connect(&target)?,
    };
    runtime.block_on(async {
        let result = dispatch(&session, &cli.command).await;
        let saved = session.finish().await;
        let outcome = result?;
        saved?;
        Ok(outcome)
    })
}

async fn dispatch(session: &Session, command: &Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Documents(args) => documents::run(session, &args.command).await,
        Command::Assets(args) => assets::run(session, &args.command).await,
        Command::Thumbnail(args) => documents::thumbnail(session, args).await,
        Command::Jobs(args) => jobs::run(session, &args.command).await,
        Command::Keys(args) => keys::run(session, &args.command).await,
        _ => bail!("this command does not talk to a server"),
    }
}

/// Logs in (the password grant happens on the first request) and stores the tokens.
async fn login(session: Session, username: &str, store: &Store) -> anyhow::Result<Outcome> {
    let me = session
        .call(
            format!("logging in as {username:?}"),
            GetMe {
                principal: Principal::default(),
            },
        )
        .await?;
    if !session.has_tokens() {
        bail!(
            "logging in to {}: the server answered without tokens",
            session.server()
        );
    }
    let server = session.server().to_owned();
    session.finish().await?;
    eprintln!(
        "spv-cli: logged in to {server} as {:?}{}; the login is kept in {}",
        me.username,
        if me.is_admin { " (admin)" } else { "" },
        store.path().display()
    );
    Ok(Outcome::Success)
}

/// Forgets the stored login.
fn logout(store: &Store) -> anyhow::Result<Outcome> {
    let server = store.load().ok().flatten().map(|login| login.server);
    if store.remove()? {
        match server {
            Some(server) => eprintln!("spv-cli: logged out of {server}"),
            None => eprintln!("spv-cli: removed {}", store.path().display()),
        }
    } else {
        eprintln!("spv-cli: not logged in");
    }
    Ok(Outcome::Success)
}

/// The password from SPV_PASSWORD, else typed on the terminal without echo.
fn read_password(args: &LoginArgs) -> anyhow::Result<Secret> {
    let password = match std::env::var("SPV_PASSWORD") {
        Ok(password) if !password.is_empty() => password,
        _ => {
            let term = console::Term::stderr();
            if !term.is_term() {
                bail!(
                    "no password for {:?}: set SPV_PASSWORD, or run spv-cli login on a \
                     terminal to type it",
                    args.username
                );
            }
            eprint!("Password for {}: ", args.username);
            term.read_secure_line().context("reading the password")?
        }
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    if password.chars().count() > MAX_PASSWORD_LEN {
        bail!("the password is longer than {MAX_PASSWORD_LEN} characters");
    }
    Ok(Secret::new(password))
}

/// `text` as an id, or an error naming `what` it should have been.
pub(crate) fn parse_id(what: &str, text: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(text.trim())
        .with_context(|| format!("{text:?} is not a {what} id (expected a UUID)"))
}

/// Standard output, locked (small writes; a broken pipe ends quietly, see `output`).
pub(crate) fn stdout() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}
