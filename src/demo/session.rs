//! The demo talks to its embedded server the way a user does: through the
//! Postgres wire protocol (tokio-postgres, simple query protocol, as `psql
//! -f` sends a script), with the server's NOTICE messages passed on.

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls, SimpleQueryMessage};

/// A statement's answer as text, the way `psql` shows it.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// A failed statement: the server's message and SQLSTATE.
#[derive(Debug, Clone)]
pub struct SqlFailure {
    pub message: String,
    pub sqlstate: Option<String>,
}

impl std::fmt::Display for SqlFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sqlstate {
            Some(code) => write!(f, "{} (SQLSTATE {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SqlFailure {}

impl From<tokio_postgres::Error> for SqlFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => Self {
                message: db.message().to_string(),
                sqlstate: Some(db.code().code().to_string()),
            },
            None => Self {
                message: e.to_string(),
                sqlstate: None,
            },
        }
    }
}

/// One connection to the server, with its NOTICE messages.
pub struct Session {
    client: Client,
    notices: mpsc::UnboundedReceiver<String>,
}

impl Session {
    pub async fn connect(port: u16) -> Result<Self, SqlFailure> {
        let conn = format!("host=127.0.0.1 port={port} user=brook dbname=brook");
        let (client, mut connection) = tokio_postgres::connect(&conn, NoTls).await?;
        let (tx, notices) = mpsc::unbounded_channel();
        // Driving the connection by hand is how tokio-postgres hands out
        // the asynchronous messages (NOTICE) instead of dropping them.
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notice(notice)) => {
                        let _ = tx.send(notice.message().to_string());
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Ok(Self { client, notices })
    }

    /// Run one statement (simple query protocol), calling `on_notice` with
    /// each NOTICE the server sends while it runs.
    pub async fn run(
        &mut self,
        sql: &str,
        mut on_notice: impl FnMut(&str),
    ) -> Result<Answer, SqlFailure> {
        let query = self.client.simple_query(sql);
        tokio::pin!(query);
        let messages = loop {
            tokio::select! {
                done = &mut query => break done?,
                Some(notice) = self.notices.recv() => on_notice(&notice),
            }
        };
        while let Ok(notice) = self.notices.try_recv() {
            on_notice(&notice);
        }
        let mut answer = Answer::default();
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(columns) => {
                    answer.columns = columns.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(row) => {
                    if answer.columns.is_empty() {
                        answer.columns =
                            row.columns().iter().map(|c| c.name().to_string()).collect();
                    }
                    answer.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        Ok(answer)
    }

    /// The first column of the first row as an integer (`count(*)` and the like).
    pub async fn number(&mut self, sql: &str) -> Result<i64, SqlFailure> {
        let answer = self.run(sql, |_| {}).await?;
        let cell = answer
            .rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .flatten();
        cell.and_then(|c| c.parse().ok()).ok_or_else(|| SqlFailure {
            message: format!("expected a number from: {sql}"),
            sqlstate: None,
        })
    }
}
