//! A real MIT Kerberos KDC (Debian's `krb5-kdc`, `krb5-admin-server` for `kadmin.local`) for
//! the sign-on tests: a throwaway realm `PARK-END.TEST` in a temporary folder, users with
//! passwords, the service principal `HTTP/localhost` exported to a keytab (mode 600), the KDC
//! on a free loopback port (TCP), and `kinit` to give a user a ticket cache.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test realm.
pub const REALM: &str = "PARK-END.TEST";

/// A running KDC; stopped and its folder removed when dropped.
pub struct Kdc {
    /// The service's keytab (`HTTP/localhost@PARK-END.TEST`).
    pub keytab: PathBuf,
    /// The `krb5.conf` clients use (`KRB5_CONFIG`).
    pub config: PathBuf,
    folder: PathBuf,
    child: Child,
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a Kerberos tool");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Kdc {
    /// Starts a KDC with `users` (name, password) and the service `HTTP/localhost`.
    pub fn start(users: &[(&str, &str)]) -> Kdc {
        let folder = crate::temp_folder("kdc");
        let port = crate::free_port();
        let path = |name: &str| folder.join(name).display().to_string();
        let config = folder.join("krb5.conf");
        std::fs::write(
            &config,
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n \
                 dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n \
                 udp_preference_limit = 1\n\
                 [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
            ),
        )
        .expect("krb5.conf");
        std::fs::write(
            folder.join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_tcp_listen = 127.0.0.1:{port}\n kdc_listen = 127.0.0.1:{port}\n\
                 [realms]\n {REALM} = {{\n  database_name = {db}\n  key_stash_file = {stash}\n  \
                 acl_file = {acl}\n  \
                 supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }}\n\
                 [logging]\n kdc = FILE:{log}\n",
                db = path("principal"),
                stash = path("stash"),
                acl = path("kadm5.acl"),
                log = path("kdc.log"),
            ),
        )
        .expect("kdc.conf");
        let tool = |program: &str| {
            let mut command = Command::new(program);
            command
                .env("KRB5_CONFIG", &config)
                .env("KRB5_KDC_PROFILE", folder.join("kdc.conf"));
            command
        };
        run(tool("/usr/sbin/kdb5_util").args([
            "create",
            "-s",
            "-r",
            REALM,
            "-P",
            "kdc master test password",
        ]));
        for (user, password) in users {
            run(tool("/usr/sbin/kadmin.local")
                .args(["-q", &format!("addprinc -pw {password} {user}")]));
        }
        run(tool("/usr/sbin/kadmin.local").args(["-q", "addprinc -randkey HTTP/localhost"]));
        let keytab = folder.join("http.keytab");
        run(tool("/usr/sbin/kadmin.local").args([
            "-q",
            &format!("ktadd -k {} HTTP/localhost", keytab.display()),
        ]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600))
                .expect("chmod the keytab");
        }
        let child = tool("/usr/sbin/krb5kdc")
            .arg("-n")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start krb5kdc (Debian package krb5-kdc)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the KDC did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Kdc {
            keytab,
            config,
            folder,
            child,
        }
    }

    /// Gets `user` a ticket (`kinit` with their password) in a cache of their own; its path.
    pub fn kinit(&self, user: &str, password: &str) -> PathBuf {
        use std::io::Write as _;
        let cache = self.folder.join(format!("cache-{user}"));
        let mut child = Command::new("kinit")
            .arg(user)
            .env("KRB5_CONFIG", &self.config)
            .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kinit (Debian package krb5-user)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write the password");
        let output = child.wait_with_output().expect("kinit ends");
        assert!(
            output.status.success(),
            "kinit {user}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        cache
    }

    /// The folder (for a client's files).
    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}
