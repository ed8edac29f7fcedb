//! Who may talk to `lokal serve`: optional HTTP basic auth and bearer
//! tokens (as a reverse proxy in front of Loki would check them, since Loki
//! itself leaves authentication to one). Credentials are compared in
//! constant time; `/ready` stays open for health probes.

use base64::Engine;

/// One accepted credential.
#[derive(Clone)]
pub enum Credential {
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    // Never print a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Credential::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl Credential {
    /// `USER:PASSWORD` of `--basic-auth`.
    pub fn basic(user_password: &str) -> Result<Credential, String> {
        match user_password.trim_end_matches(['\r', '\n']).split_once(':') {
            Some((u, p)) if !u.is_empty() && !p.is_empty() => Ok(Credential::Basic {
                user: u.to_string(),
                password: p.to_string(),
            }),
            _ => Err("expected USER:PASSWORD, both non-empty".into()),
        }
    }

    /// A bearer token (a file's trailing newline dropped).
    pub fn bearer(token: &str) -> Result<Credential, String> {
        let t = token.trim();
        if t.is_empty() {
            return Err("the bearer token is empty".into());
        }
        Ok(Credential::Bearer(t.to_string()))
    }
}

/// Byte equality whose time does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the `Authorization` header's value satisfies one of `accepted`
/// (everything passes when none is configured).
pub fn allowed(accepted: &[Credential], authorization: &str) -> bool {
    if accepted.is_empty() {
        return true;
    }
    let (scheme, value) = authorization.trim().split_once(' ').unwrap_or(("", ""));
    let value = value.trim();
    accepted.iter().any(|c| match c {
        Credential::Basic { user, password } if scheme.eq_ignore_ascii_case("basic") => {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(value) else {
                return false;
            };
            same(&decoded, format!("{user}:{password}").as_bytes())
        }
        Credential::Bearer(token) if scheme.eq_ignore_ascii_case("bearer") => {
            same(value.as_bytes(), token.as_bytes())
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer() {
        let creds = [
            Credential::basic("u:p w").unwrap(),
            Credential::bearer("tok\n").unwrap(),
        ];
        let b64 = base64::engine::general_purpose::STANDARD.encode("u:p w");
        assert!(allowed(&creds, &format!("Basic {b64}")));
        assert!(allowed(&creds, "bearer tok"));
        assert!(!allowed(&creds, "Bearer to"));
        assert!(!allowed(&creds, "Basic dTpw"));
        assert!(!allowed(&creds, ""));
        assert!(allowed(&[], ""));
        assert!(Credential::basic("nopass").is_err());
        assert!(Credential::bearer(" ").is_err());
        assert_eq!(format!("{:?}", creds[0]), "Basic(u, ***)");
    }
}
