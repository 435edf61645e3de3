//! `lakegate whoami`: the principal, groups, attributes and account the
//! server sees in your token, and whether you are a data lake admin.

use grpc_proxy::proto::WhoAmIRequest;

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Asks the server who we are.
pub async fn run(g: &Global) -> Result<(), CliError> {
    let mut c = connect(g).await?;
    let r = c
        .client
        .who_am_i(WhoAmIRequest {})
        .await
        .map_err(|s| c.fail(s))?
        .into_inner();
    if g.json {
        return output::json(&r);
    }
    println!("principal: {}", r.principal);
    println!("account:   {}", r.account);
    println!("groups:    {}", output::list(&r.groups));
    let attrs: Vec<String> = r.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("attrs:     {}", output::list(&attrs));
    println!("admin:     {}", if r.is_admin { "yes" } else { "no" });
    Ok(())
}
