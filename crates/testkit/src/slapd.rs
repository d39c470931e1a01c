//! A real OpenLDAP server (Debian's `slapd`) for the directory tests: a throwaway database in a
//! temporary folder, TLS with a test CA made by `openssl`, the `memberof` overlay (so entries
//! carry `memberOf` as Active Directory's do), listening on `ldap://` (StartTLS) and `ldaps://`
//! on free loopback ports, and filled with [`PARK_END`] by `ldapadd`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test directory's suffix.
pub const SUFFIX: &str = "dc=park-end,dc=sch,dc=uk";
/// Its administrator (the root DN), which loads and changes the entries.
pub const ADMIN_DN: &str = "cn=admin,dc=park-end,dc=sch,dc=uk";
/// The administrator's password.
pub const ADMIN_PASSWORD: &str = "slapd admin test password";
/// Ward's service account: may read people and groups, never passwords.
pub const WARD_DN: &str = "cn=ward,ou=services,dc=park-end,dc=sch,dc=uk";
/// Its password.
pub const WARD_PASSWORD: &str = "ward service test password";

/// Park End's directory, as a school's might be: pupils and staff in their own OUs, year and
/// staff groups, an IT administrator no Ward rule places, and Ward's service account.
/// Every person's password is `PASSWORD-` and their uid.
pub const PARK_END: &str = "\
dn: dc=park-end,dc=sch,dc=uk
objectClass: dcObject
objectClass: organization
o: Park End Primary School
dc: park-end

dn: ou=people,dc=park-end,dc=sch,dc=uk
objectClass: organizationalUnit
ou: people

dn: ou=pupils,ou=people,dc=park-end,dc=sch,dc=uk
objectClass: organizationalUnit
ou: pupils

dn: ou=staff,ou=people,dc=park-end,dc=sch,dc=uk
objectClass: organizationalUnit
ou: staff

dn: ou=it,ou=people,dc=park-end,dc=sch,dc=uk
objectClass: organizationalUnit
ou: it

dn: ou=groups,dc=park-end,dc=sch,dc=uk
objectClass: organizationalUnit
ou: groups

dn: ou=services,dc=park-end,dc=sch,dc=uk
objectClass: organizationalUnit
ou: services

dn: cn=ward,ou=services,dc=park-end,dc=sch,dc=uk
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: ward
userPassword: ward service test password

dn: uid=lwright10,ou=pupils,ou=people,dc=park-end,dc=sch,dc=uk
objectClass: inetOrgPerson
uid: lwright10
cn: Lena Wright
givenName: Lena
sn: Wright
mail: lwright10@park-end.sch.uk
userPassword: PASSWORD-lwright10

dn: uid=tkhan9,ou=pupils,ou=people,dc=park-end,dc=sch,dc=uk
objectClass: inetOrgPerson
uid: tkhan9
cn: Tariq Khan
givenName: Tariq
sn: Khan
userPassword: PASSWORD-tkhan9

dn: uid=oadeyemi6,ou=pupils,ou=people,dc=park-end,dc=sch,dc=uk
objectClass: inetOrgPerson
uid: oadeyemi6
cn: Ola Adeyemi
givenName: Ola
sn: Adeyemi
userPassword: PASSWORD-oadeyemi6

dn: uid=mrs.jones,ou=staff,ou=people,dc=park-end,dc=sch,dc=uk
objectClass: inetOrgPerson
uid: mrs.jones
cn: Ann Jones
givenName: Ann
sn: Jones
mail: a.jones@park-end.sch.uk
userPassword: PASSWORD-mrs.jones

dn: uid=itadmin,ou=it,ou=people,dc=park-end,dc=sch,dc=uk
objectClass: inetOrgPerson
uid: itadmin
cn: IT Admin
sn: Admin
userPassword: PASSWORD-itadmin

dn: cn=Year 4,ou=groups,dc=park-end,dc=sch,dc=uk
objectClass: groupOfNames
cn: Year 4
member: uid=lwright10,ou=pupils,ou=people,dc=park-end,dc=sch,dc=uk
member: uid=tkhan9,ou=pupils,ou=people,dc=park-end,dc=sch,dc=uk

dn: cn=Year 6,ou=groups,dc=park-end,dc=sch,dc=uk
objectClass: groupOfNames
cn: Year 6
member: uid=oadeyemi6,ou=pupils,ou=people,dc=park-end,dc=sch,dc=uk

dn: cn=Safeguarding,ou=groups,dc=park-end,dc=sch,dc=uk
objectClass: groupOfNames
cn: Safeguarding
member: uid=mrs.jones,ou=staff,ou=people,dc=park-end,dc=sch,dc=uk
";

/// A running `slapd`; stopped and its folder removed when dropped.
pub struct Slapd {
    /// `ldap://127.0.0.1:PORT` (StartTLS).
    pub ldap_url: String,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_url: String,
    /// The PEM certificate of the CA that signed the server's certificate.
    pub ca_pem: PathBuf,
    folder: PathBuf,
    child: Child,
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a directory tool");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Slapd {
    /// Starts a directory holding `ldif` (added by the administrator once it runs).
    pub fn start(ldif: &str) -> Slapd {
        let folder = crate::temp_folder("slapd");
        crate::certificates(&folder, "Park End Test Directory CA");
        std::fs::create_dir_all(folder.join("db")).expect("database folder");
        let f = |name: &str| folder.join(name).display().to_string();
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload memberof\n\
             pidfile {pid}\n\
             argsfile {args}\n\
             TLSCACertificateFile {ca}\n\
             TLSCertificateFile {cert}\n\
             TLSCertificateKeyFile {key}\n\
             database mdb\n\
             maxsize 10485760\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ADMIN_DN}\"\n\
             rootpw \"{ADMIN_PASSWORD}\"\n\
             directory {db}\n\
             overlay memberof\n\
             access to attrs=userPassword by anonymous auth by * none\n\
             access to * by dn.exact=\"{WARD_DN}\" read by self read by * none\n",
            pid = f("slapd.pid"),
            args = f("slapd.args"),
            ca = f("ca.pem"),
            cert = f("server.pem"),
            key = f("server.key"),
            db = f("db"),
        );
        std::fs::write(folder.join("slapd.conf"), config).expect("write slapd.conf");
        run(Command::new("/usr/sbin/slaptest")
            .arg("-u")
            .arg("-f")
            .arg(folder.join("slapd.conf")));
        let (plain, tls) = (crate::free_port(), crate::free_port());
        let ldap_url = format!("ldap://127.0.0.1:{plain}");
        let ldaps_url = format!("ldaps://127.0.0.1:{tls}");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(folder.join("slapd.conf"))
            .arg("-h")
            .arg(format!("{ldap_url}/ {ldaps_url}/"))
            // Debug output keeps it in the foreground; "none" prints nothing.
            .args(["-d", "none"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start slapd (Debian package slapd)");
        let slapd = Slapd {
            ldap_url,
            ldaps_url,
            ca_pem: folder.join("ca.pem"),
            folder,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", plain)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", tls)).is_err()
        {
            assert!(Instant::now() < deadline, "slapd did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        slapd.add(ldif);
        slapd
    }

    fn admin(&self, tool: &str, ldif: &str) {
        let file = self.folder.join("change.ldif");
        std::fs::write(&file, ldif).expect("write the LDIF");
        run(Command::new(tool)
            .args([
                "-x",
                "-H",
                &self.ldap_url,
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PASSWORD,
                "-f",
            ])
            .arg(&file));
    }

    /// Adds entries (`ldapadd` as the administrator).
    pub fn add(&self, ldif: &str) {
        self.admin("ldapadd", ldif);
    }

    /// Changes entries (`ldapmodify` as the administrator; LDIF with `changetype`).
    pub fn modify(&self, ldif: &str) {
        self.admin("ldapmodify", ldif);
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}
