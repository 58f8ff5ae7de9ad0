//! A throwaway PostgreSQL server for tests: Debian's binaries, a cluster in a temporary directory,
//! listening on a free loopback port with trust authentication, stopped and deleted on drop. As
//! root (CI containers), the server runs as the `postgres` system user, since PostgreSQL refuses
//! to run as root. `.ci/run` installs the `postgresql` package when it is missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    pub port: u16,
}

/// The directory of PostgreSQL's server binaries: `VIGIL_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
pub fn pg_bin() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("VIGIL_PG_BIN") {
        return Ok(PathBuf::from(p));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, b)) = found.pop() {
        return Ok(b);
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|e| format!("PostgreSQL not found (no /usr/lib/postgresql/*/bin, no pg_config: {e}); install Debian's postgresql package"))?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl TempPostgres {
    /// Starts a server; panics with the server's log if it cannot (tests want it loud).
    pub fn start() -> TempPostgres {
        let bin = pg_bin().unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::Builder::new().prefix("vigil-pg-").tempdir().expect("temporary directory");
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().is_ok_and(|s| s.success());
            assert!(ok, "cannot hand {} to the postgres user", dir.path().display());
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        let pg = TempPostgres { dir, bin, as_postgres, port };
        let data = pg.data();
        pg.run("initdb", &["-D", path(&data), "-U", "vigil", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]);
        let opts = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", path(pg.dir.path()));
        let log = pg.dir.path().join("server.log");
        pg.run("pg_ctl", &["-D", path(&data), "-o", &opts, "-l", path(&log), "-w", "-t", "60", "start"]);
        pg.watch();
        pg
    }

    /// A server kept in a `static` is never dropped: a detached watcher stops it and deletes its
    /// directory once this process has exited, however it exits.
    fn watch(&self) {
        let stop = format!(
            "{}{} -D '{}' -m immediate -w stop",
            if self.as_postgres { "runuser -u postgres -- " } else { "" },
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        let script =
            format!("while kill -0 {} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{}'", std::process::id(), self.dir.path().display());
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).current_dir(self.dir.path()).output().unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!("{tool} failed: {}\n{}\nserver log:\n{log}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
    }

    /// A connection string for database `db`, created if it does not exist.
    pub fn database(&self, db: &str) -> String {
        let admin = format!("host=127.0.0.1 port={} user=vigil dbname=postgres", self.port);
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to the test server");
        let exists = c.query("SELECT 1 FROM pg_database WHERE datname = $1", &[&db]).expect("pg_database").len() == 1;
        if !exists {
            c.batch_execute(&format!("CREATE DATABASE \"{db}\"")).expect("create database");
        }
        format!("host=127.0.0.1 port={} user=vigil dbname={db}", self.port)
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", path(&data), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&exe).args(args).output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}
