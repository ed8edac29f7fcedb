//! Test certificates made with openssl (Debian's base system): a CA and a
//! certificate for 127.0.0.1 signed by it, for https servers in tests.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs openssl in `dir`; `None` after a note (a failure under `CI=true`)
/// when it is missing.
pub fn openssl(dir: &Path, args: &[&str]) -> Option<()> {
    let st = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stderr(Stdio::null())
        .status();
    match st {
        Ok(s) if s.success() => Some(()),
        Ok(s) => panic!("openssl {args:?} failed: {s}"),
        Err(_) => {
            super::skip("openssl is not installed");
            None
        }
    }
}

/// Writes `ca.pem` (and `ca.key`) and `NAME.pem` with `NAME.key`, a server
/// certificate for 127.0.0.1 signed by that CA, into `dir`.
pub fn certificates(dir: &Path, name: &str) -> Option<()> {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=lokal test CA",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    ];
    for args in steps {
        openssl(dir, args)?;
    }
    Some(())
}
