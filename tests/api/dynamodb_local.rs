//! A DynamoDB Local process of one test alone: on a free ephemeral port, in memory or on
//! a data directory of its own, killed (SIGKILL) and restarted at will, and always killed
//! when dropped, so that a failing test leaves no java process behind.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::repo_root;

/// Ports that belong to the developer's stack and `make test`: never ours.
const RESERVED_PORTS: [u16; 4] = [8100, 8101, 8102, 9100];

/// How long a cold JVM may take to listen on a busy two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(45);

pub struct DynamoDbLocal {
    child: Option<Child>,
    port: u16,
    /// This instance's own directory: the JVM's working directory (DynamoDB Local writes
    /// a metadata file there), its log, and with `persistent` its database.
    dir: PathBuf,
    persistent: bool,
}

impl DynamoDbLocal {
    /// An in-memory instance: its data is lost when it stops.
    pub fn in_memory() -> Self {
        Self::start(false)
    }

    /// An instance whose data (`-dbPath`) survives [`DynamoDbLocal::kill`] and
    /// [`DynamoDbLocal::restart`].
    pub fn persistent() -> Self {
        Self::start(true)
    }

    fn start(persistent: bool) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "omnisession-faults-{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir_all(dir.join("db")).expect("create the instance's temp directory");
        let mut instance = Self {
            child: None,
            port: 0,
            dir,
            persistent,
        };
        // A port picked free can be taken by someone else before java binds it: then
        // java exits at once, and another port is tried.
        for _ in 0..3 {
            instance.port = free_port();
            if instance.spawn_and_wait() {
                return instance;
            }
        }
        panic!(
            "DynamoDB Local did not start; its log:\n{}",
            instance.log_tail()
        );
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the process abruptly (SIGKILL), as a crash or a pulled plug would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the instance again on the same port and the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        // The port was ours a moment ago; give the kernel a few tries to release it.
        for _ in 0..5 {
            if self.spawn_and_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "DynamoDB Local did not restart on port {}; its log:\n{}",
            self.port,
            self.log_tail()
        );
    }

    /// Spawns java and waits until it listens; `false` when it exited first.
    fn spawn_and_wait(&mut self) -> bool {
        assert!(
            !RESERVED_PORTS.contains(&self.port),
            "port {} belongs to another stack",
            self.port
        );
        let home = repo_root().join(".local/dynamodb-local");
        let jar = home.join("DynamoDBLocal.jar");
        assert!(
            jar.exists(),
            "{} is missing: run scripts/install.sh",
            jar.display()
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the DynamoDB Local log");
        let mut command = Command::new("java");
        command
            .current_dir(&self.dir)
            .arg(format!(
                "-Djava.library.path={}",
                home.join("DynamoDBLocal_lib").display()
            ))
            .args(["-Xmx256m", "-jar"])
            .arg(&jar)
            .args(["-sharedDb", "-disableTelemetry", "-port"])
            .arg(self.port.to_string());
        if self.persistent {
            command.arg("-dbPath").arg(self.dir.join("db"));
        } else {
            command.arg("-inMemory");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn java (is a Java 17 runtime on PATH?)");
        self.child = Some(child);

        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let child = self.child.as_mut().expect("the child just spawned");
            if child.try_wait().expect("poll java").is_some() {
                self.child = None;
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
        false
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("dynamodb-local.log")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port no one listens on right now (the kernel's choice of an ephemeral port).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("its address").port()
}
