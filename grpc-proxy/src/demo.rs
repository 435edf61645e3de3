//! `lakegate serve --demo`: a demo catalog generated locally — two databases,
//! thousands of rows in hive-partitioned Parquet, demo principals and grants —
//! so a new user sees two principals getting different columns and rows.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use policy_engine::filters::NewDataFilter;
use policy_engine::model::{Format, LocationUri};
use policy_engine::{Caller, Governance, GrantRequest, NewTable, Principal, ResourceSpec};

use crate::error::{Error, Result};

/// The demo's account.
pub const DEMO_ACCOUNT: &str = "111111111111";
/// The demo's admin.
pub const DEMO_ADMIN: &str = "111111111111:user/admin";

fn demo_err(message: impl std::fmt::Display) -> Error {
    Error::Demo(message.to_string())
}

/// A small deterministic generator, so the demo is the same everywhere.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        let n = xs.len().max(1) as u64;
        xs.get((self.next() % n) as usize).copied().unwrap_or("")
    }
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| demo_err(format!("{}: {e}", dir.display())))?;
    }
    let file =
        std::fs::File::create(path).map_err(|e| demo_err(format!("{}: {e}", path.display())))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).map_err(demo_err)?;
    w.write(batch).map_err(demo_err)?;
    w.close().map_err(demo_err)?;
    Ok(())
}

/// Writes the demo's files under `root` (`sales/orders/region=…/`, `hr/employees/`).
pub fn write_files(root: &Path) -> Result<()> {
    let mut rng = Lcg(42);
    let names = [
        "ann", "bob", "chen", "dana", "eve", "femi", "gus", "hana", "ivan", "jo", "kim", "lea",
    ];
    let products = ["laptop", "phone", "desk", "chair", "monitor", "lamp"];
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("product", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let mut id = 0i64;
    for region in ["EU", "US", "APAC"] {
        let n = 2000;
        let mut ids = Vec::with_capacity(n);
        let mut customers = Vec::with_capacity(n);
        let mut emails = Vec::with_capacity(n);
        let mut prods = Vec::with_capacity(n);
        let mut amounts = Vec::with_capacity(n);
        for _ in 0..n {
            id += 1;
            let who = rng.pick(&names);
            ids.push(id);
            customers.push(who.to_string());
            emails.push(if rng.next().is_multiple_of(10) {
                None
            } else {
                Some(format!("{who}{}@example.com", rng.next() % 100))
            });
            prods.push(rng.pick(&products).to_string());
            amounts.push(((rng.next() % 100_000) as f64) / 100.0);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(customers)),
            Arc::new(StringArray::from(emails)),
            Arc::new(StringArray::from(prods)),
            Arc::new(Float64Array::from(amounts)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(demo_err)?;
        write_parquet(
            &root
                .join("sales/orders")
                .join(format!("region={region}"))
                .join("part-0.parquet"),
            &batch,
        )?;
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("employee_id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("department", DataType::Utf8, false),
        Field::new("salary", DataType::Float64, false),
        Field::new("ssn", DataType::Utf8, false),
    ]));
    let depts = ["sales", "engineering", "finance", "support"];
    let n = 1000;
    let mut ids = Vec::with_capacity(n);
    let mut who = Vec::with_capacity(n);
    let mut dept = Vec::with_capacity(n);
    let mut salary = Vec::with_capacity(n);
    let mut ssn = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(i as i64 + 1);
        who.push(format!("{}-{i}", rng.pick(&names)));
        dept.push(rng.pick(&depts).to_string());
        salary.push(40_000.0 + (rng.next() % 80_000) as f64);
        ssn.push(format!(
            "{:03}-{:02}-{:04}",
            rng.next() % 1000,
            rng.next() % 100,
            rng.next() % 10_000
        ));
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(who)),
        Arc::new(StringArray::from(dept)),
        Arc::new(Float64Array::from(salary)),
        Arc::new(StringArray::from(ssn)),
    ];
    let batch = RecordBatch::try_new(schema, cols).map_err(demo_err)?;
    write_parquet(&root.join("hr/employees/part-0.parquet"), &batch)
}

fn grant(
    gov: &Governance,
    admin: &Caller,
    principal: &str,
    resource: ResourceSpec,
    masks: &[(&str, &str)],
) -> Result<()> {
    gov.grant(
        admin,
        &GrantRequest {
            principal: principal.into(),
            permissions: vec!["SELECT".into()],
            grantable: vec![],
            resource,
            masks: masks
                .iter()
                .map(|(c, m)| (c.to_string(), m.to_string()))
                .collect(),
        },
    )
    .map(|_| ())
    .map_err(|e| demo_err(format!("demo grant: {e}")))
}

/// Builds the demo catalog if the data directory has none yet. Returns the
/// next steps to print.
pub async fn setup(gov: &Arc<Governance>, data_dir: &Path, listen: &str) -> Result<String> {
    let admin = Caller::new(Principal::parse(DEMO_ADMIN).map_err(demo_err)?);
    gov.bootstrap(admin.account(), std::slice::from_ref(&admin.principal))
        .map_err(demo_err)?;
    let root = std::fs::canonicalize(data_dir)
        .map_err(|e| demo_err(format!("{}: {e}", data_dir.display())))?
        .join("demo-lake");
    let fresh = gov.list_databases(&admin).map_err(demo_err)?.is_empty();
    if fresh {
        write_files(&root)?;
        let loc = format!("file://{}/", root.display());
        gov.register_location(&admin, &loc).map_err(demo_err)?;
        for db in ["sales", "hr"] {
            gov.create_database(&admin, db, Some(&format!("{loc}{db}/")))
                .map_err(demo_err)?;
        }
        for (name, rel, keys) in [
            ("sales.orders", "sales/orders/", vec!["region".to_string()]),
            ("hr.employees", "hr/employees/", vec![]),
        ] {
            let uri = LocationUri::parse(&format!("{loc}{rel}")).map_err(demo_err)?;
            let inferred = lakegate_engine::infer::infer_table(&uri, Format::Parquet, &keys)
                .await
                .map_err(|e| demo_err(e.to_string()))?;
            gov.create_table(
                &admin,
                &NewTable {
                    name: name.into(),
                    location: uri.to_string(),
                    format: Format::Parquet,
                    columns: inferred.columns,
                    partition_keys: inferred.partition_keys,
                },
            )
            .map_err(demo_err)?;
        }
        // alice (analysts): EU orders only, no emails; hr without salary and ssn.
        gov.create_data_filter(
            &admin,
            &NewDataFilter {
                name: "sales.orders.eu_no_email".into(),
                row_filter: Some("region = 'EU'".into()),
                all_rows: false,
                columns: vec![],
                exclude_columns: vec!["email".into()],
            },
        )
        .map_err(demo_err)?;
        grant(
            gov,
            &admin,
            "111111111111:group/analysts",
            ResourceSpec::DataFilter {
                name: "sales.orders.eu_no_email".into(),
            },
            &[],
        )?;
        grant(
            gov,
            &admin,
            "111111111111:user/alice",
            ResourceSpec::Table {
                name: "hr.employees".into(),
                columns: vec![],
                exclude_columns: vec!["salary".into(), "ssn".into()],
            },
            &[],
        )?;
        // bob (support): every order, emails masked to their last 4 characters.
        grant(
            gov,
            &admin,
            "111111111111:user/bob",
            ResourceSpec::Table {
                name: "sales.orders".into(),
                columns: vec![],
                exclude_columns: vec![],
            },
            &[("email", "last4")],
        )?;
    }
    // The steps must work when pasted as they are: the binary by its full
    // path (after `cargo run` it is not on the PATH), every path quoted,
    // and the tokens exported for the Python line.
    let bin = std::env::current_exe()
        .map(|p| shell_quote(&p.display().to_string()))
        .unwrap_or_else(|_| "lakegate".to_string());
    let dir = shell_quote(&data_dir.display().to_string());
    Ok(format!(
        "demo catalog ready in {dir} (account {DEMO_ACCOUNT}: databases sales, hr)\n\
         next steps, in another shell:\n\
         \x20 export LAKEGATE_ENDPOINT=http://{listen}\n\
         \x20 export ALICE=$({bin} token --data-dir {dir} --principal 111111111111:user/alice --group analysts)\n\
         \x20 export BOB=$({bin} token --data-dir {dir} --principal 111111111111:user/bob)\n\
         \x20 {bin} --token \"$ALICE\" query \"SELECT * FROM sales.orders ORDER BY order_id LIMIT 5\"   # EU rows, no email\n\
         \x20 {bin} --token \"$BOB\" query \"SELECT * FROM sales.orders ORDER BY order_id LIMIT 5\"     # all rows, email masked\n\
         \x20 {bin} --token \"$ALICE\" query \"SELECT region, count(*) FROM sales.orders GROUP BY region\"\n\
         \x20 {bin} --token \"$BOB\" query \"SELECT * FROM hr.employees\"                              # not found for bob\n\
         with Python ADBC (pip install adbc-driver-flightsql pyarrow):\n\
         \x20 python3 -c \"import adbc_driver_flightsql.dbapi as f, os; c=f.connect('grpc://{listen}', \
db_kwargs={{'adbc.flight.sql.authorization_header': 'Bearer '+os.environ['ALICE']}}).cursor(); \
c.execute('SELECT * FROM hr.employees LIMIT 3'); print(c.fetch_arrow_table())\"\n"
    ))
}

/// `s` as one POSIX shell word: as it is when it holds only safe
/// characters, else in single quotes.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:+@%=,".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
