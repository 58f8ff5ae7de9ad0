//! Users, roles and API tokens. Passwords are kept as Argon2id hashes (PHC strings, the salt
//! inside); tokens are 256 random bits, shown once and stored as their SHA-256 (a token is already
//! as strong as a key: a slow hash adds nothing), with an expiry and a revocation time. There is no
//! default account: the first user is an admin made by `vigil user add` on an empty store.

use crate::audit::{self, hex};
use crate::db::Value;
use crate::{now_ns, Error, Result, Store};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde_json::json;
use sha2::{Digest, Sha256};

/// What a user may do: an analyst triages and investigates; a supervisor also approves what takes
/// four eyes; an admin manages users and rules.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Analyst,
    Supervisor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "analyst" => Role::Analyst,
            "supervisor" => Role::Supervisor,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
    /// Whether this role may act as `need`: a supervisor is also an analyst; an admin manages
    /// users and rules but approves nothing (four eyes belong to supervisors).
    pub fn can(self, need: Role) -> bool {
        match need {
            Role::Analyst => true,
            Role::Supervisor => self == Role::Supervisor,
            Role::Admin => self == Role::Admin,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub disabled: bool,
}

/// The token prefix: recognisable in logs and by secret scanners.
const TOKEN_PREFIX: &str = "vgl_";

fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
}

impl Store {
    pub fn user(&mut self, name: &str) -> Result<Option<User>> {
        let rows = self.conn.query("SELECT name, role, created_at, disabled_at FROM users WHERE name = $1", &[name.into()])?;
        Ok(rows.first().map(|r| user(r)))
    }

    pub fn users(&mut self) -> Result<Vec<User>> {
        Ok(self.conn.query("SELECT name, role, created_at, disabled_at FROM users ORDER BY name", &[])?.iter().map(|r| user(r)).collect())
    }

    /// The user `name`, enabled and allowed to act as `need`.
    pub fn require_user(&mut self, name: &str, need: Role) -> Result<User> {
        let u = self.user(name)?.ok_or_else(|| Error::Denied(format!("no user {name}")))?;
        if u.disabled {
            return Err(Error::Denied(format!("user {name} is disabled")));
        }
        if !u.role.can(need) {
            return Err(Error::Denied(format!("{name} is {} {}; this takes the {} role", article(u.role), u.role.as_str(), need.as_str())));
        }
        Ok(u)
    }

    /// Adds a user. On an empty store the first user must be an admin and needs no actor (the
    /// bootstrap); afterwards `actor` must be an admin.
    pub fn add_user(&mut self, name: &str, role: Role, password: &str, actor: Option<&str>) -> Result<User> {
        if !valid_name(name) {
            return Err(Error::Invalid(format!("user name {name:?}: 1-64 characters of letters, digits, '.', '_', '-', '@'")));
        }
        if password.chars().count() < 12 {
            return Err(Error::Invalid("a password has at least 12 characters".into()));
        }
        let count = self.conn.query("SELECT COUNT(*) FROM users", &[])?.first().and_then(|r| r[0].int()).unwrap_or(0);
        let actor = match (count, actor) {
            (0, _) if role != Role::Admin => return Err(Error::Invalid("the store has no users yet: the first one is an admin".into())),
            (0, _) => "bootstrap".to_string(),
            (_, Some(a)) => self.require_user(a, Role::Admin)?.name,
            (_, None) => return Err(Error::Denied("adding a user takes an admin (--as NAME)".into())),
        };
        if self.user(name)?.is_some() {
            return Err(Error::Invalid(format!("user {name} exists")));
        }
        let hash = hash_password(password)?;
        let at = now_ns();
        self.tx(true, |c| {
            c.exec(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)",
                &[name.into(), role.as_str().into(), hash.as_str().into(), at.into()],
            )?;
            audit::append(c, at, &actor, "user.add", "user", name, &json!({"role": role.as_str()}))?;
            Ok(())
        })?;
        Ok(User { name: name.into(), role, created_at: at, disabled: false })
    }

    /// Whether `password` is `name`'s (an enabled user's).
    /// Whether `password` is `name`'s. An unknown or disabled user costs the same Argon2 check as a
    /// known one, so that the time taken does not tell which names exist.
    pub fn check_password(&mut self, name: &str, password: &str) -> Result<bool> {
        let rows = self.conn.query("SELECT password_hash, disabled_at FROM users WHERE name = $1", &[name.into()])?;
        let Some(r) = rows.first().filter(|r| r[1].int().is_none()) else {
            static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
            let dummy = DUMMY.get_or_init(|| {
                let salt = SaltString::encode_b64(b"vigil-no-such-user").ok()?;
                Argon2::default().hash_password(b"no such user", &salt).ok().map(|h| h.to_string())
            });
            if let Some(parsed) = dummy.as_deref().and_then(|d| PasswordHash::new(d).ok()) {
                let _ = Argon2::default().verify_password(password.as_bytes(), &parsed);
            }
            return Ok(false);
        };
        let stored = r[0].text().unwrap_or("");
        let parsed = PasswordHash::new(stored).map_err(|e| Error::Db(format!("user {name}: stored password hash unreadable: {e}")))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    }

    /// Issues an API token for `user`, valid for `ttl_secs`; the token is returned once and only
    /// its hash is kept. A user issues its own; an admin may issue for anyone.
    pub fn issue_token(&mut self, user: &str, ttl_secs: i64, actor: &str) -> Result<String> {
        let a = self.require_user(actor, Role::Analyst)?;
        if a.name != user && a.role != Role::Admin {
            return Err(Error::Denied(format!("{actor} may issue tokens for itself only")));
        }
        self.require_user(user, Role::Analyst)?;
        if ttl_secs <= 0 {
            return Err(Error::Invalid("a token's lifetime is positive".into()));
        }
        let mut bits = [0u8; 32];
        getrandom::fill(&mut bits).map_err(|e| Error::Db(format!("no randomness for a token: {e}")))?;
        let token = format!("{TOKEN_PREFIX}{}", hex(&bits));
        let h = token_hash(&token);
        let at = now_ns();
        let expires = at.saturating_add(ttl_secs.saturating_mul(1_000_000_000));
        self.tx(true, |c| {
            c.exec(
                "INSERT INTO tokens (token_hash, user_name, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[h.as_str().into(), user.into(), at.into(), expires.into()],
            )?;
            audit::append(c, at, actor, "token.issue", "user", user, &json!({"token": &h[..12], "expires_at": expires}))?;
            Ok(())
        })?;
        Ok(token)
    }

    /// The user a token belongs to, if it is known, unexpired, unrevoked and its user enabled.
    pub fn check_token(&mut self, token: &str) -> Result<Option<User>> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let rows = self.conn.query("SELECT user_name, expires_at, revoked_at FROM tokens WHERE token_hash = $1", &[token_hash(token).into()])?;
        let Some(r) = rows.first() else { return Ok(None) };
        if r[2].int().is_some() || r[1].int().unwrap_or(0) <= now_ns() {
            return Ok(None);
        }
        let name = r[0].text().unwrap_or("").to_string();
        Ok(self.user(&name)?.filter(|u| !u.disabled))
    }

    /// Revokes a token (given whole): by its user or an admin.
    pub fn revoke_token(&mut self, token: &str, actor: &str) -> Result<()> {
        let a = self.require_user(actor, Role::Analyst)?;
        let h = token_hash(token);
        let rows = self.conn.query("SELECT user_name FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL", &[h.as_str().into()])?;
        let owner = rows.first().and_then(|r| r[0].text().map(str::to_string)).ok_or_else(|| Error::NotFound("no such live token".into()))?;
        if owner != a.name && a.role != Role::Admin {
            return Err(Error::Denied(format!("{actor} may revoke its own tokens only")));
        }
        let at = now_ns();
        self.tx(true, |c| {
            c.exec("UPDATE tokens SET revoked_at = $1 WHERE token_hash = $2", &[at.into(), Value::from(h.as_str())])?;
            audit::append(c, at, actor, "token.revoke", "user", &owner, &json!({"token": &h[..12]}))?;
            Ok(())
        })
    }
}

/// A user from a row of (name, role, created_at, disabled_at).
fn user(r: &[Value]) -> User {
    User {
        name: r[0].text().unwrap_or("").into(),
        role: r[1].text().and_then(Role::parse).unwrap_or(Role::Analyst),
        created_at: r[2].int().unwrap_or(0),
        disabled: r[3].int().is_some(),
    }
}

fn article(r: Role) -> &'static str {
    if r == Role::Admin || r == Role::Analyst {
        "an"
    } else {
        "a"
    }
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Db(format!("no randomness for a salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Db(format!("salt: {e}")))?;
    // Argon2::default() is Argon2id, version 19, with the RFC 9106 / OWASP second recommended
    // parameters (19 MiB, 2 passes, 1 lane).
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| Error::Db(format!("password hash: {e}")))
}
