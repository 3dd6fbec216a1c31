#![forbid(unsafe_code)]
//! Test harness: runs the real `parasol-server` binary as a child process on
//! a temporary data directory, on loopback, and captures its logs so tests
//! can check what it writes to disk and to its logs.

pub mod drive;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The debug build of the server (`target/debug/parasol-server`).
pub fn server_binary() -> PathBuf {
    workspace_binary("parasol-server", "parasol-server", Profile::OfThisTest)
}

/// The release build of the server: load tests run against what is
/// deployed, not a debug build.
pub fn release_server_binary() -> PathBuf {
    workspace_binary("parasol-server", "parasol-server", Profile::Release)
}

/// The `parasol` CLI (`target/debug/parasol`).
pub fn cli_binary() -> PathBuf {
    workspace_binary("parasol-client", "parasol", Profile::OfThisTest)
}

#[derive(Clone, Copy, PartialEq)]
enum Profile {
    OfThisTest,
    Release,
}

/// Set to 1 to let the harness run `cargo build` for a binary that is
/// missing or older than its sources (once per test process), instead of
/// stopping with the command to run.
pub const BUILD_ENV: &str = "PARASOL_TEST_BUILD";

/// A binary of this workspace. The tests do not build it: `./test.sh`
/// builds every binary once before any test runs. A binary that is missing,
/// or older than the sources it is built from, stops the test with the
/// command that builds it (or is built now when `PARASOL_TEST_BUILD=1`), so
/// `cargo test -p parasol-tests --test <file>` never runs a stale server.
fn workspace_binary(package: &str, bin: &str, profile: Profile) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/<bin>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let release = match profile {
        Profile::Release => true,
        Profile::OfThisTest => profile_dir.ends_with("release"),
    };
    let dir = profile_dir
        .parent()
        .expect("target")
        .join(if release { "release" } else { "debug" });
    let path = dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if built.contains(&path) {
        return path;
    }
    let release_flag = if release { " --release" } else { "" };
    let command = format!("cargo build --locked{release_flag} -p {package} --bin {bin}");
    let problem = match std::fs::metadata(&path).and_then(|m| m.modified()) {
        Err(_) => Some(format!("{} is missing", path.display())),
        Ok(built_at) => newest_input(&path, package)
            .filter(|(_, changed)| *changed > built_at)
            .map(|(file, _)| format!("{} is older than {}", path.display(), file.display())),
    };
    if let Some(problem) = problem {
        if std::env::var(BUILD_ENV).as_deref() != Ok("1") {
            panic!("{problem}: build it with `{command}` (./test.sh builds every binary first), or set {BUILD_ENV}=1 to let the tests build it");
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--locked", "-p", package, "--bin", bin]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build");
        assert!(status.success(), "`{command}` failed");
    }
    built.push(path.clone());
    path
}

/// The most recently changed file the binary at `path` is built from: the
/// list cargo writes beside it (`<bin>.d`), which leaves out test-only
/// modules; without that list, every Rust source of the crates.
fn newest_input(path: &Path, package: &str) -> Option<(PathBuf, std::time::SystemTime)> {
    let Ok(dep_info) = std::fs::read_to_string(path.with_extension("d")) else {
        return newest_source(package);
    };
    // `<target>: <input> <input> …`, a space inside a path written `\ `.
    let (_, inputs) = dep_info.lines().next()?.split_once(": ")?;
    inputs
        .replace("\\ ", "\0")
        .split_whitespace()
        .map(|f| PathBuf::from(f.replace('\0', " ")))
        .filter_map(|f| Some((std::fs::metadata(&f).ok()?.modified().ok()?, f)))
        .max()
        .map(|(time, file)| (file, time))
}

/// The most recently changed Rust source of `package` and of the crates it
/// is built from in this workspace.
fn newest_source(package: &str) -> Option<(PathBuf, std::time::SystemTime)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let crates: &[&str] = match package {
        "parasol-server" => &["server", "protocol"],
        _ => &["client", "protocol"],
    };
    // Only the Rust sources: cargo rebuilds when one of them is newer than
    // the binary, so `cargo build` always clears what this finds.
    let mut files = Vec::new();
    for name in crates {
        collect_files(&root.join(name).join("src"), &mut files);
    }
    files
        .into_iter()
        .filter_map(|f| Some((std::fs::metadata(&f).ok()?.modified().ok()?, f)))
        .max()
        .map(|(time, file)| (file, time))
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// This process's user id.
pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Send `signal` to the process `pid` (a child of this test).
pub fn send_signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a process id is not 0");
    rustix::process::kill_process(pid, signal).expect("sending a signal to the server");
}

/// A running server process and the folder it owns.
pub struct ServerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    /// Where the last start serves `/metrics` (a listener of its own).
    metrics_addr: Option<SocketAddr>,
    root: tempfile::TempDir,
    /// Extra TOML appended to the config file.
    extra_config: String,
    starts: u32,
    /// What the last start printed to stdout before its banner (e.g. the
    /// demo counsellor's password).
    startup_output: Vec<String>,
    /// The server binary this process runs.
    binary: PathBuf,
    /// Extra environment variables for every start.
    env: Vec<(String, String)>,
}

impl ServerProcess {
    /// Start a server on a free loopback port with a fresh data directory.
    pub fn start() -> ServerProcess {
        Self::start_with_config("")
    }

    /// Start with extra TOML configuration.
    pub fn start_with_config(extra_config: &str) -> ServerProcess {
        Self::start_binary(server_binary(), extra_config)
    }

    /// [`ServerProcess::start_with_config`] with another build of the
    /// server (for example [`release_server_binary`]).
    pub fn start_binary(binary: PathBuf, extra_config: &str) -> ServerProcess {
        Self::start_prepared(binary, extra_config, |_| {})
    }

    /// Start after `prepare` was given the folder the server will own (its
    /// data directory will be `prepare`'s argument joined with `data`), for
    /// example to mount a small filesystem there.
    pub fn start_prepared(binary: PathBuf, extra_config: &str, prepare: impl FnOnce(&Path)) -> ServerProcess {
        let root = tempfile::tempdir().expect("temp dir");
        prepare(root.path());
        Self::start_in(root, binary, extra_config, Vec::new())
    }

    /// Start in `root` (the folder that will hold the data directory, the
    /// key file and the logs) with extra environment variables for every
    /// start, e.g. an `LD_PRELOAD` that must know `root` in advance.
    pub fn start_in(
        root: tempfile::TempDir,
        binary: PathBuf,
        extra_config: &str,
        env: Vec<(String, String)>,
    ) -> ServerProcess {
        let mut server = ServerProcess {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            metrics_addr: None,
            root,
            extra_config: extra_config.to_string(),
            starts: 0,
            startup_output: Vec::new(),
            binary,
            env,
        };
        server.spawn();
        server
    }

    /// WebSocket URL of the server.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics listener's address (`GET /metrics`); the main listener
    /// does not serve metrics.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr.expect("the server printed its metrics address")
    }

    /// The server's data directory (what a seizure would image).
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The server's key file (the default: a sibling of the data directory).
    pub fn key_file(&self) -> PathBuf {
        self.root.path().join("data.keys")
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.root.path().join(format!("server-{n}.log"))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let config_path = self.root.path().join("parasol.toml");
        // Metrics on a free port too: servers of parallel tests would
        // otherwise all want the default 127.0.0.1:9464.
        let config = format!(
            "listen = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{}\n",
            self.addr,
            self.data_dir().display(),
            self.extra_config
        );
        std::fs::write(&config_path, config).expect("writing config");
        let log = std::fs::File::create(self.log_path(self.starts)).expect("log file");
        let mut child = Command::new(&self.binary)
            .arg("--config")
            .arg(&config_path)
            // Capture everything the server would ever log, not just info.
            .env("PARASOL_LOG", "debug")
            .env_remove("PARASOL_LISTEN")
            .env_remove("PARASOL_DATA_DIR")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting parasol-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        self.startup_output.clear();
        self.metrics_addr = None;
        let banner = loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => break line,
                Some(Ok(line)) if line.starts_with("parasol-server metrics on http://") => {
                    self.metrics_addr = line
                        .strip_prefix("parasol-server metrics on http://")
                        .and_then(|rest| rest.strip_suffix("/metrics"))
                        .and_then(|a| a.parse().ok());
                }
                Some(Ok(line)) => self.startup_output.push(line),
                _ => panic!("server exited before listening; log:\n{}", self.logs()),
            }
        };
        assert!(Instant::now() < deadline, "server took too long to start");
        // "listening on http://127.0.0.1:PORT ..." (https:// with TLS)
        let addr = banner
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("address in banner");
        self.addr = addr.parse().expect("socket address");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// Set an environment variable for the next starts.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Lines the last start printed to stdout before it listened.
    pub fn startup_output(&self) -> &[String] {
        &self.startup_output
    }

    /// `parasol-server admin <args>` against this server's configuration,
    /// with `stdin` written to its standard input.
    pub fn admin(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new(&self.binary)
            .arg("admin")
            .arg("--config")
            .arg(self.root.path().join("parasol.toml"))
            .args(args)
            .env_remove("PARASOL_LISTEN")
            .env_remove("PARASOL_DATA_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running parasol-server admin");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("writing stdin");
        child.wait_with_output().expect("parasol-server admin output")
    }

    /// Graceful stop (SIGTERM) and wait for exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(child.id(), rustix::process::Signal::TERM);
            let status = wait_with_timeout(&mut child, Duration::from_secs(30));
            assert!(
                status.map(|s| s.success()).unwrap_or(false),
                "server did not stop cleanly; log:\n{}",
                self.logs()
            );
        }
    }

    /// Send SIGTERM and wait at most `limit`: the exit status and how long
    /// it took, or `None` if it was still running (it is then killed).
    pub fn terminate_within(&mut self, limit: Duration) -> Option<(std::process::ExitStatus, Duration)> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        send_signal(child.id(), rustix::process::Signal::TERM);
        match wait_with_timeout(&mut child, limit) {
            Some(status) => Some((status, started.elapsed())),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    /// Crash the server (SIGKILL): no chance to flush or close anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Start again on the same port and data directory with other extra
    /// configuration (e.g. opening hours that have begun).
    pub fn restart_with_config(&mut self, extra_config: &str) {
        self.stop();
        self.extra_config = extra_config.to_string();
        self.spawn();
    }

    /// Start again after [`kill`](Self::kill).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "server is still running");
        self.spawn();
    }

    /// Everything the server logged (stderr) over all its runs.
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("")
    }

    /// Every byte of every file under the data directory.
    pub fn data_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.data_dir()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push((path, bytes));
                }
            }
        }
        out
    }

    /// Fail if the logs contain an IP address or any of `secrets`.
    pub fn assert_logs_clean(&self, secrets: &[&str]) {
        let logs = self.logs();
        assert!(!logs.is_empty(), "the server logged nothing; the check would be empty");
        if let Some(ip) = find_ip_address(&logs) {
            panic!("server log contains an IP address {ip:?}:\n{logs}");
        }
        for secret in secrets {
            assert!(!logs.contains(secret), "server log contains {secret:?}");
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first IP address (v4 or v6, bare or with a port) in `text`.
pub fn find_ip_address(text: &str) -> Option<String> {
    let ipv4 = regex::Regex::new(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b").unwrap();
    if let Some(m) = ipv4.find(text) {
        return Some(m.as_str().to_string());
    }
    // IPv6: look at whole tokens, so `module::path` and 08:15:47 do not count.
    text.split(|c: char| c.is_whitespace() || "\"',=()<>{}/".contains(c))
        .map(|t| t.trim_matches(|c: char| ".,;".contains(c)))
        .find(|t| {
            t.contains(':')
                && t.chars().any(|c| c.is_ascii_hexdigit())
                && (t.parse::<std::net::IpAddr>().is_ok()
                    || t.trim_end_matches(':').parse::<std::net::IpAddr>().is_ok()
                    || t.parse::<SocketAddr>().is_ok())
        })
        .map(str::to_string)
}

/// One HTTP/1.1 request to `addr` on a fresh connection: the status and
/// the body.
pub fn http_request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).expect("sending");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reading");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, body.to_string())
}

/// Create a staff account through the admin CLI (`parasol-server admin
/// create-staff`) with a random password, and return the password.
/// `languages` is comma-separated, e.g. `"mk,en"`.
pub fn create_staff(
    server: &ServerProcess,
    username: &str,
    display_name: &str,
    role: &str,
    languages: &str,
    max_chats: u32,
) -> String {
    let password = format!("pw-{}", marker());
    let max_chats = max_chats.to_string();
    let out = server.admin(
        &[
            "create-staff",
            "--username",
            username,
            "--display-name",
            display_name,
            "--role",
            role,
            "--languages",
            languages,
            "--max-chats",
            &max_chats,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "create-staff {username} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    password
}

/// Log a staff member in over HTTP (`POST /v1/staff/login`) and return the
/// session token for `Client::connect_staff`.
///
/// Like the console, it tries again on 503 `busy`: the server lets one
/// source have only a few logins waiting for a password check, and tests
/// log several staff in at once from one address.
pub fn staff_login(server: &ServerProcess, username: &str, password: &str) -> String {
    let request = serde_json::json!({"username": username, "password": password}).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (status, body) = loop {
        let (status, body) = http_request(
            server.addr(),
            "POST",
            "/v1/staff/login",
            &[("Content-Type", "application/json")],
            &request,
        );
        if status != 503 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(status, 200, "login of {username} failed: {body}");
    let value: serde_json::Value = serde_json::from_str(&body).expect("login answer is JSON");
    value["token"].as_str().expect("a session token").to_string()
}

/// A string that will not occur by chance, to look for on disk and in logs.
pub fn marker() -> String {
    format!("PARASOL-MARKER-{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// Does `haystack` contain `needle`?
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// Helpers for tests/tests/intake_abuse.rs.

impl ServerProcess {
    /// The running server's process id (to read its memory use from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

#[cfg(test)]
mod tests {
    use super::find_ip_address;

    #[test]
    fn finds_addresses_and_ignores_paths_and_times() {
        for text in [
            "from 10.0.0.7 x",
            "peer=[::1]:443",
            "addr=fe80::1",
            "at 2001:db8::2:1.",
            "x 127.0.0.1:80",
        ] {
            assert!(find_ip_address(text).is_some(), "{text}");
        }
        for text in [
            "2026-11-23T08:15:47.283028Z DEBUG parasol_server::connection: closing connection code=1000",
            "version 0.9.2 epoch=3 ::",
        ] {
            assert_eq!(find_ip_address(text), None, "{text}");
        }
    }
}
