//! Promise: tiberius and FreeTDS (a TDS client we did not write) can log in to the simulated
//! server and run batches with result sets, messages and errors.

mod common;

use common::*;
use runledger_sim::Scenario;

#[test]
fn tiberius_logs_in_and_reads_result_sets() {
    let dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let r = batch(&mut c, "SELECT 1").await.unwrap();
        assert_eq!(r[0][0].get::<i32, _>(0), Some(1));
        let r = batch(&mut c, "SELECT @@SERVERNAME AS name, @@SPID AS spid")
            .await
            .unwrap();
        assert_eq!(first_text(&r, "name").as_deref(), Some("PCSQLDR01"));
        assert!(r[0][0].get::<i32, _>("spid").unwrap() >= 51);
        let r = batch(
            &mut c,
            "SELECT name, state_desc, database_id FROM sys.databases WHERE name = N'mgc'",
        )
        .await
        .unwrap();
        assert_eq!(first_text(&r, "state_desc").as_deref(), Some("RESTORING"));
        // tiberius sends `query` as an RPC of sp_executesql with bound parameters.
        let row = c
            .query(
                "SELECT state_desc FROM sys.databases WHERE name = @P1",
                &[&"mgc"],
            )
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<&str, _>(0), Some("RESTORING"));
    });
}

#[test]
fn a_wrong_password_is_error_18456() {
    let dc = Dc::new(Scenario::Normal);
    rt().block_on(async {
        match connect_as(dc.bak(), "not the password").await {
            Err(tiberius::error::Error::Server(e)) => {
                assert_eq!(e.code(), 18456);
                assert!(
                    e.message().contains("Login failed for user 'runledger'"),
                    "{}",
                    e.message()
                );
            }
            Err(e) => panic!("expected error 18456, got {e}"),
            Ok(_) => panic!("expected error 18456, logged in"),
        }
    });
}

#[test]
fn tsql_logs_in_and_runs_a_batch() {
    let dc = Dc::new(Scenario::Normal);
    let (out, err, _) = tsql(
        dc.bak(),
        &dc.bak().password,
        "SELECT @@SERVERNAME AS name, 42 AS answer",
    );
    assert!(
        out.contains("PCSQLDR01") && out.contains("42"),
        "stdout: {out}\nstderr: {err}"
    );
    let (out, err, _) = tsql(dc.bak(), "wrong", "SELECT 1");
    assert!(
        format!("{out}{err}").contains("18456"),
        "stdout: {out}\nstderr: {err}"
    );
}

#[test]
fn tiberius_execute_and_query_with_parameters_reach_the_rules() {
    let dc = Dc::new(Scenario::Normal);
    let status = runledger_sim::status(dc.path()).unwrap();
    let next = status
        .files
        .iter()
        .find(|f| f.in_dest && !f.restored)
        .unwrap();
    let path = dest_path(&next.name);
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        // RPC (sp_executesql) with the path bound as @P1.
        c.execute("RESTORE LOG [mgc] FROM DISK = @P1 WITH FILE = 1, NORECOVERY", &[&path.as_str()]).await.unwrap();
        match c.execute("RESTORE LOG [mgc] FROM DISK = @P1 WITH NORECOVERY", &[&path.as_str()]).await {
            Err(tiberius::error::Error::Server(e)) => assert_eq!(e.code(), 4326, "{}", e.message()),
            other => panic!("expected 4326, got {other:?}"),
        }
        let row = c
            .query("SELECT COUNT(*) AS n FROM msdb.dbo.restorehistory WHERE destination_database_name = @P1 AND restore_type = @P2", &[&"mgc", &"L"])
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert!(row.get::<i32, _>("n").unwrap() >= 2);
        let mut m = connect(dc.bak_m()).await;
        let r = batch(&mut m, "SELECT @@SERVERNAME AS s; SELECT COUNT(*) FROM sys.databases WHERE name = 'mgc'").await.unwrap();
        assert_eq!(first_text(&r, "s").as_deref(), Some("PCSQLDR02"));
        assert_eq!(r[1][0].get::<i32, _>(0), Some(0));
    });
}
