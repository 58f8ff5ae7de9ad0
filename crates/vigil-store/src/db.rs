//! One connection to SQLite or PostgreSQL behind one small interface: the store writes its SQL once,
//! with `$1`-style parameters and portable types (`BIGINT`, `DOUBLE PRECISION`, `TEXT`), and this
//! module runs it on either.

use crate::{Error, Result};

/// A parameter or a column value. Nulls carry their column's type (PostgreSQL checks it).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Real(f64),
    Text(String),
    NullInt,
    NullText,
}

impl Value {
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Real(r) => Some(*r as i64),
            _ => None,
        }
    }
    pub fn real(&self) -> Option<f64> {
        match self {
            Value::Real(r) => Some(*r),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Value::NullText, Value::from)
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::NullInt, Value::Int)
    }
}

pub type Row = Vec<Value>;

pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(Box<postgres::Client>),
}

/// `$1` → `?1`: SQLite's numbered parameters (its `$name` would bind by first appearance).
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn sq(e: rusqlite::Error) -> Error {
    Error::Db(format!("sqlite: {e}"))
}
fn pg(e: postgres::Error) -> Error {
    Error::Db(format!("postgresql: {}", e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string())))
}

fn sqlite_params(params: &[Value]) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    params
        .iter()
        .map(|p| match p {
            Value::Int(i) => V::Integer(*i),
            Value::Real(r) => V::Real(*r),
            Value::Text(s) => V::Text(s.clone()),
            Value::NullInt | Value::NullText => V::Null,
        })
        .collect()
}

fn pg_params(params: &[Value]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn postgres::types::ToSql + Sync> {
            match p {
                Value::Int(i) => Box::new(*i),
                Value::Real(r) => Box::new(*r),
                Value::Text(s) => Box::new(s.clone()),
                Value::NullInt => Box::new(None::<i64>),
                Value::NullText => Box::new(None::<String>),
            }
        })
        .collect()
}

impl Conn {
    pub fn backend(&self) -> &'static str {
        match self {
            Conn::Sqlite(_) => "sqlite",
            Conn::Pg(_) => "postgresql",
        }
    }

    /// Runs statements without parameters (schema, transaction control).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(sq),
            Conn::Pg(c) => c.batch_execute(sql).map_err(pg),
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(&sqlite_sql(sql)).map_err(sq)?;
                let n = st.execute(rusqlite::params_from_iter(sqlite_params(params))).map_err(sq)?;
                Ok(n as u64)
            }
            Conn::Pg(c) => {
                let boxed = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
                c.execute(sql, &refs).map_err(pg)
            }
        }
    }

    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match self {
            Conn::Sqlite(c) => {
                use rusqlite::types::ValueRef;
                let mut st = c.prepare_cached(&sqlite_sql(sql)).map_err(sq)?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(sqlite_params(params))).map_err(sq)?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().map_err(sq)? {
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(match r.get_ref(i).map_err(sq)? {
                            ValueRef::Integer(v) => Value::Int(v),
                            ValueRef::Real(v) => Value::Real(v),
                            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
                            ValueRef::Null => Value::NullText,
                        });
                    }
                    out.push(row);
                }
                Ok(out)
            }
            Conn::Pg(c) => {
                use postgres::types::Type;
                let boxed = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = boxed.iter().map(|b| b.as_ref()).collect();
                let rows = c.query(sql, &refs).map_err(pg)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut row = Vec::with_capacity(r.len());
                    for (i, col) in r.columns().iter().enumerate() {
                        let t = col.type_();
                        let v = if *t == Type::INT8 {
                            r.try_get::<_, Option<i64>>(i).map_err(pg)?.map_or(Value::NullInt, Value::Int)
                        } else if *t == Type::INT4 {
                            r.try_get::<_, Option<i32>>(i).map_err(pg)?.map_or(Value::NullInt, |v| Value::Int(v.into()))
                        } else if *t == Type::INT2 {
                            r.try_get::<_, Option<i16>>(i).map_err(pg)?.map_or(Value::NullInt, |v| Value::Int(v.into()))
                        } else if *t == Type::FLOAT8 {
                            r.try_get::<_, Option<f64>>(i).map_err(pg)?.map_or(Value::NullInt, Value::Real)
                        } else if *t == Type::FLOAT4 {
                            r.try_get::<_, Option<f32>>(i).map_err(pg)?.map_or(Value::NullInt, |v| Value::Real(v.into()))
                        } else if *t == Type::NUMERIC {
                            return Err(Error::Db(format!("postgresql: column {} is NUMERIC; cast it", col.name())));
                        } else {
                            r.try_get::<_, Option<String>>(i).map_err(pg)?.map_or(Value::NullText, Value::Text)
                        };
                        row.push(v);
                    }
                    out.push(row);
                }
                Ok(out)
            }
        }
    }

    /// Starts a transaction. `serial`: it appends to the audit log, so it holds the log's write
    /// lock from the start (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a table lock that lets readers
    /// on but orders writers), and two writers never read the same chain head.
    pub fn begin(&mut self, serial: bool) -> Result<()> {
        match self {
            Conn::Sqlite(_) => self.batch("BEGIN IMMEDIATE"),
            Conn::Pg(_) if serial => self.batch("BEGIN; LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"),
            Conn::Pg(_) => self.batch("BEGIN"),
        }
    }
}

/// The next id of `table` (its largest `column` plus one). Callers hold the log's lock (a serial
/// transaction), so two writers never take the same id.
pub(crate) fn next_id(c: &mut Conn, table: &str, column: &str) -> Result<i64> {
    Ok(c.query(&format!("SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}"), &[])?.first().and_then(|r| r[0].int()).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_parameters_become_sqlite_ones() {
        assert_eq!(super::sqlite_sql("SELECT a FROM t WHERE b = $2 AND c = $1 AND d = '$'"), "SELECT a FROM t WHERE b = ?2 AND c = ?1 AND d = '$'");
    }
}
