//! SQL Server errors and informational messages, with the numbers, states, severities and
//! texts a client sees (texts follow SQL Server's message catalog; see docs/drill.md).
//!
//! Whether an error ends only its statement or the whole batch follows SQL Server: parse and
//! name-resolution errors abort the batch, run-time errors (RESTORE, KILL…) end the statement
//! and the batch goes on.

use std::fmt;

/// One message as sent in an ERROR or INFO token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMessage {
    /// Error number (0 for PRINT).
    pub number: i32,
    /// The error's state, which tells apart the places one number is raised.
    pub state: u8,
    /// Severity (class); above 10 is an error.
    pub class: u8,
    /// The message as a client shows it.
    pub text: String,
}

impl SqlMessage {
    /// An informational message (class 0).
    pub fn info(number: i32, text: impl Into<String>) -> SqlMessage {
        SqlMessage {
            number,
            state: 1,
            class: 0,
            text: text.into(),
        }
    }
}

/// A failed statement: its messages (primary error first) and whether the batch stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SqlError {
    /// Messages, the primary error first (e.g. 4305, then 3013).
    pub messages: Vec<SqlMessage>,
    /// The rest of the batch is not executed.
    pub aborts_batch: bool,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.messages.first() {
            Some(m) => write!(f, "Msg {}, Level {}: {}", m.number, m.class, m.text),
            None => write!(f, "error"),
        }
    }
}

impl SqlError {
    /// A statement-ending error.
    pub fn new(number: i32, class: u8, state: u8, text: impl Into<String>) -> SqlError {
        SqlError {
            messages: vec![SqlMessage {
                number,
                state,
                class,
                text: text.into(),
            }],
            aborts_batch: false,
        }
    }

    /// Marks the error as ending the batch.
    pub fn batch(mut self) -> SqlError {
        self.aborts_batch = true;
        self
    }

    /// Adds the "… is terminating abnormally" companion message that SQL Server sends after a
    /// failed BACKUP or RESTORE.
    pub fn terminating(mut self, statement: &str) -> SqlError {
        self.messages.push(SqlMessage {
            number: 3013,
            state: 1,
            class: 16,
            text: format!("{statement} is terminating abnormally."),
        });
        self
    }

    /// The primary error number.
    pub fn number(&self) -> i32 {
        self.messages.first().map_or(0, |m| m.number)
    }

    /// 102: syntax the parser does not accept, quoting the statement.
    pub fn syntax(near: &str, statement: &str) -> SqlError {
        SqlError::new(
            102,
            15,
            1,
            format!(
                "Incorrect syntax near '{near}'. The drill simulator does not model this \
                 statement: {}",
                statement.trim()
            ),
        )
        .batch()
    }

    /// 208: unknown table or view.
    pub fn invalid_object(name: &str) -> SqlError {
        SqlError::new(208, 16, 1, format!("Invalid object name '{name}'.")).batch()
    }

    /// 207: unknown column.
    pub fn invalid_column(name: &str) -> SqlError {
        SqlError::new(207, 16, 1, format!("Invalid column name '{name}'.")).batch()
    }

    /// 137: undeclared variable.
    pub fn undeclared(var: &str) -> SqlError {
        SqlError::new(
            137,
            15,
            2,
            format!("Must declare the scalar variable \"{var}\"."),
        )
        .batch()
    }

    /// 2812: unknown stored procedure.
    pub fn no_procedure(name: &str) -> SqlError {
        SqlError::new(
            2812,
            16,
            62,
            format!("Could not find stored procedure '{name}'."),
        )
    }

    /// 911: unknown database.
    pub fn no_database(name: &str) -> SqlError {
        SqlError::new(
            911,
            16,
            1,
            format!(
                "Database '{name}' does not exist. Make sure that the name is entered correctly."
            ),
        )
    }

    /// 927: a database that is being restored cannot be opened.
    pub fn restoring(name: &str) -> SqlError {
        SqlError::new(
            927,
            14,
            2,
            format!("Database '{name}' cannot be opened. It is in the middle of a restore."),
        )
    }

    /// 3701-style internal failure of the simulator itself (its SQLite store).
    pub fn internal(what: impl fmt::Display) -> SqlError {
        SqlError::new(
            50000,
            16,
            1,
            format!("runledger sim: internal error in the simulated server: {what}"),
        )
    }
}

impl From<rusqlite::Error> for SqlError {
    fn from(e: rusqlite::Error) -> SqlError {
        SqlError::internal(e)
    }
}
