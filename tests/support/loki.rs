//! The real Grafana Loki of `../shared/loki` for tests: started on two free
//! loopback ports with `start-loki.sh`, stopped (it flushes first) on drop.
//! [`Loki::start`] returns `None` with a note (a failure under `CI=true`)
//! when `../shared/loki`, `zstd` or `curl` is missing.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A running Loki.
pub struct Loki {
    /// Its pid.
    pub pid: String,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
}

impl Drop for Loki {
    fn drop(&mut self) {
        let kill = |args: &[&str]| {
            Command::new("kill")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let alive = |pid: &str| kill(&["-0", pid]);
        kill(&[&self.pid]);
        let t = Instant::now();
        while alive(&self.pid) && t.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(200));
        }
        if alive(&self.pid) {
            kill(&["-9", &self.pid]);
        }
    }
}

/// A port the kernel hands out free on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `tool` runs; a note (a failure under `CI=true`) when not.
pub fn have(tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        super::skip(&format!("{tool} is not installed"));
    }
    ok
}

/// Runs `cmd`, asserting success; its stdout.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` with `input` on its stdin, asserting success; its stdout.
/// (Output beyond the pipe's buffer is read while the input is written, so
/// a tool that answers as it reads cannot block it.)
#[track_caller]
pub fn pipe_ok(cmd: &mut Command, input: &[u8]) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("piped");
    let owned = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&owned));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}\ninput:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(input),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Unpacks the real `logcli` of `loki_dir` (the `../shared/loki` folder)
/// into `dir`; its path.
pub fn unpack_logcli(loki_dir: &Path, dir: &Path) -> std::path::PathBuf {
    let logcli = dir.join("logcli");
    run_ok(
        Command::new("zstd")
            .args(["-dqf"])
            .arg(loki_dir.join("logcli-3.7.6-linux-amd64.zst"))
            .arg("-o")
            .arg(&logcli),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&logcli, std::fs::Permissions::from_mode(0o755)).unwrap();
    logcli
}

impl Loki {
    /// Starts the Loki of `../shared/loki` with its data under `work/loki`;
    /// `None` (after a note) when it or its tools are missing.
    pub fn start(work: &Path) -> Option<Loki> {
        let dir = super::shared("loki")?;
        if !(have("zstd", "--version") && have("curl", "--version")) {
            return None;
        }
        Some(Loki::start_in(&dir, work))
    }

    /// Starts the Loki of `loki_dir` (the `../shared/loki` folder).
    pub fn start_in(loki_dir: &Path, work: &Path) -> Loki {
        let (http, grpc) = (free_port(), free_port());
        let pid = run_ok(
            Command::new(loki_dir.join("start-loki.sh"))
                .arg(work.join("loki"))
                .arg(http.to_string())
                .arg(grpc.to_string()),
        );
        Loki {
            pid: pid.trim().to_string(),
            addr: format!("http://127.0.0.1:{http}"),
        }
    }

    /// Starts the Loki of `loki_dir` with its data under `work/loki` and
    /// pushes `dataset` (`make_dataset.py`'s) with `push_to_loki.py`.
    pub fn start_with_dataset(loki_dir: &Path, work: &Path, dataset: &Path) -> Loki {
        let loki = Loki::start_in(loki_dir, work);
        run_ok(
            Command::new("python3")
                .arg(loki_dir.join("push_to_loki.py"))
                .args(["--addr", &loki.addr, "--dataset"])
                .arg(dataset),
        );
        loki
    }

    /// `POST /flush`, then waits until Loki's count of every entry at
    /// `at` (RFC 3339) over `window` reaches `want` (at most 60 s): pushed
    /// entries with old timestamps are queryable only once flushed.
    pub fn flush_and_count(&self, at: &str, window: &str, want: u64) -> u64 {
        run_ok(Command::new("curl").args(["-sf", "-XPOST", &format!("{}/flush", self.addr)]));
        let t = Instant::now();
        loop {
            let n = self.count(at, window);
            if n >= want || t.elapsed() > Duration::from_secs(60) {
                return n;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Loki's `sum(count_over_time({job=~".+"}[window]))` at `at`.
    pub fn count(&self, at: &str, window: &str) -> u64 {
        let body = run_ok(
            Command::new("curl")
                .args(["-sfG", &format!("{}/loki/api/v1/query", self.addr)])
                .args([
                    "--data-urlencode",
                    &format!("query=sum(count_over_time({{job=~\".+\"}}[{window}]))"),
                ])
                .args(["--data-urlencode", &format!("time={at}")]),
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"][0]["value"][1]
            .as_str()
            .map_or(0, |s| s.parse::<f64>().unwrap() as u64)
    }
}
