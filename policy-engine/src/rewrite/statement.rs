//! Denial of every statement that is not a plain query, with what to do
//! instead (DESIGN §4 "Fail closed").

use sqlparser::ast::Statement;

use crate::error::Error;

/// The PERMISSION_DENIED error for a statement other than `Statement::Query`.
pub(crate) fn deny(statement: &Statement) -> Error {
    let kind = kind(statement);
    let todo = match statement {
        Statement::Explain { .. } => {
            "plans show filter text and raw row counts; use `lakegate explain --principal ID SQL` \
             to see how lakegate rewrites a query"
        }
        Statement::ExplainTable { .. } | Statement::ShowColumns { .. } => {
            "see a table's visible columns with Flight SQL GetTables or \
             `lakegate permissions list --table DB.TABLE`"
        }
        Statement::ShowTables { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowObjects { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCollation { .. }
        | Statement::ShowCharset { .. }
        | Statement::ShowProcessList { .. } => {
            "list what you may see with Flight SQL GetDbSchemas/GetTables or \
             `lakegate permissions list`"
        }
        Statement::Use { .. }
        | Statement::Set { .. }
        | Statement::Reset { .. }
        | Statement::AlterSession { .. }
        | Statement::Pragma { .. }
        | Statement::Discard { .. } => {
            "session settings are not supported; name tables as `DB.TABLE` in each query"
        }
        Statement::Insert { .. }
        | Statement::Update { .. }
        | Statement::Delete { .. }
        | Statement::Merge { .. }
        | Statement::Copy { .. }
        | Statement::CopyIntoSnowflake { .. }
        | Statement::LoadData { .. }
        | Statement::Load { .. }
        | Statement::Unload { .. }
        | Statement::ExportData { .. }
        | Statement::Directory { .. } => {
            "queries through lakegate are read-only; read tables with SELECT and load data with \
             `lakegate blueprint run`"
        }
        Statement::Prepare { .. } | Statement::Execute { .. } | Statement::Deallocate { .. } => {
            "use Flight SQL prepared statements (CreatePreparedStatement) instead"
        }
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::Lock { .. }
        | Statement::LockTables { .. }
        | Statement::UnlockTables => {
            "transactions and locks are not supported; send each query on its own"
        }
        Statement::Grant { .. }
        | Statement::Revoke { .. }
        | Statement::Deny { .. }
        | Statement::CreateRole { .. }
        | Statement::AlterRole { .. }
        | Statement::CreateUser { .. }
        | Statement::AlterUser { .. }
        | Statement::CreatePolicy { .. }
        | Statement::AlterPolicy { .. }
        | Statement::DropPolicy { .. } => {
            "manage access with `lakegate grant`, `lakegate revoke` and `lakegate policy apply`"
        }
        Statement::CreateTable { .. }
        | Statement::CreateView { .. }
        | Statement::CreateVirtualTable { .. }
        | Statement::CreateIndex { .. }
        | Statement::CreateSchema { .. }
        | Statement::CreateDatabase { .. }
        | Statement::AlterTable { .. }
        | Statement::AlterSchema { .. }
        | Statement::AlterView { .. }
        | Statement::AlterIndex { .. }
        | Statement::Drop { .. }
        | Statement::Truncate { .. }
        | Statement::RenameTable { .. }
        | Statement::Comment { .. }
        | Statement::AttachDatabase { .. }
        | Statement::AttachDuckDBDatabase { .. }
        | Statement::DetachDuckDBDatabase { .. } => {
            "manage databases and tables with `lakegate database create` and \
             `lakegate table create`"
        }
        _ => "only SELECT queries can be run through lakegate",
    };
    Error::denied(format!("`{kind}` statements are not allowed; {todo}"))
}

/// The statement's leading keywords, e.g. `CREATE TABLE`, `EXPLAIN`.
fn kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let mut words = text.split_whitespace().map(|w| {
        w.chars()
            .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
            .collect::<String>()
            .to_ascii_uppercase()
    });
    let first = words.next().unwrap_or_default();
    let two_words = ["CREATE", "DROP", "ALTER", "SHOW", "START"];
    let modifiers = [
        "OR",
        "REPLACE",
        "TEMPORARY",
        "TEMP",
        "UNIQUE",
        "EXTERNAL",
        "GLOBAL",
        "LOCAL",
        "IF",
        "NOT",
        "EXISTS",
    ];
    let mut kind = if first.is_empty() {
        "this".to_string()
    } else {
        first.clone()
    };
    if two_words.contains(&first.as_str())
        && let Some(second) = words.find(|w| !w.is_empty() && !modifiers.contains(&w.as_str()))
    {
        kind.push(' ');
        kind.push_str(&second);
    }
    kind
}
