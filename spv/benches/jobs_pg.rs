//! No-op jobs per second on PostgreSQL with 1, 2 and 4 worker *processes*, and the
//! enqueue-to-start latency across processes (issue 13).
//!
//! ```text
//! cargo bench -p spv --features store --bench jobs_pg -- --database-url postgres://…
//! bench/jobs.sh postgres://…        # the same, with the defaults below
//! ```
//!
//! The coordinator makes a fresh schema per row, spawns `P` copies of itself as workers
//! (each a [`Workers`] pool of `--workers` tasks running a no-op handler registered with
//! [`handler_fn`]), waits until they are ready, enqueues `--jobs` no-op jobs and lets them
//! go: jobs/s is the number of jobs over the time until the last succeeded (read from the
//! database). Then, with the workers idle, it enqueues `--latency-jobs` jobs one by one,
//! `--gap-ms` apart, each carrying its enqueue time (microseconds since the epoch) in its
//! payload; the worker that starts it stores start − enqueue as the job's result
//! (same machine, same clock), and the coordinator reads them back for p50/p99. An idle
//! worker in another process is woken by PostgreSQL `NOTIFY`; the workers' poll
//! interval is 1 s, so a missed wake-up shows as a latency near 1000 ms.
//!
//! Options: `--database-url URL` (or `DATABASE_URL`), `--processes 1,2,4`,
//! `--workers 4` (per process), `--jobs 20000`, `--latency-jobs 200`, `--gap-ms 5`.

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use spv::jobs::{JobOutcome, JobQueue, NewJob, QueueConfig, Workers, WorkersConfig, handler_fn};
use spv::store::{Db, DbOptions};

const URL_VAR: &str = "SPV_BENCH_DATABASE_URL";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let result = if args.iter().any(|a| a == "--child") {
        runtime.block_on(child(&args))
    } else {
        runtime.block_on(coordinator(&args))
    };
    if let Err(error) = result {
        eprintln!("jobs_pg: {error}");
        std::process::exit(2);
    }
}

/// The value after `--name`.
fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn number(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match arg(args, name) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name}: {v:?} is not a number")),
        None => Ok(default),
    }
}

fn now_us() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

async fn open(url: &str, schema: &str, connections: u32, migrate: bool) -> Result<Db, String> {
    Db::connect_with(
        url,
        DbOptions {
            max_connections: Some(connections),
            schema: Some(schema.to_string()),
            migrate,
            ..DbOptions::default()
        },
    )
    .await
    .map_err(|e| e.to_string())
}

/// A worker process: a `Workers` pool over the schema; `ready` once open, runs from `go`
/// on stdin until stdin closes.
async fn child(args: &[String]) -> Result<(), String> {
    let url = std::env::var(URL_VAR).map_err(|_| format!("{URL_VAR} is not set"))?;
    let schema = arg(args, "--schema").ok_or("--schema is missing")?;
    let workers = number(args, "--workers", 4)?;
    let connections = u32::try_from(workers + 2).unwrap_or(u32::MAX);
    let db = open(&url, &schema, connections, false).await?;
    let queue = JobQueue::new(db.clone(), QueueConfig::default());
    queue.listen().await;
    let noop = handler_fn("noop", |_ctx| async { Ok(JobOutcome::Done(json!(null))) });
    let latency = handler_fn("latency", |ctx| async move {
        let started = now_us();
        let enqueued = ctx.job().payload["t_us"].as_i64().unwrap_or(started);
        Ok(JobOutcome::Done(json!({ "lat_us": started - enqueued })))
    });
    let go = tokio::task::spawn_blocking(|| {
        println!("ready");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "go"
    })
    .await
    .map_err(|e| e.to_string())?;
    if !go {
        return Ok(());
    }
    let pool = Workers::start(
        queue,
        vec![noop, latency],
        WorkersConfig {
            workers,
            poll_interval: Duration::from_secs(1),
            ..WorkersConfig::default()
        },
    );
    // Runs until the coordinator closes stdin.
    tokio::task::spawn_blocking(|| for _ in std::io::stdin().lock().lines() {})
        .await
        .map_err(|e| e.to_string())?;
    pool.shutdown(Duration::from_secs(5)).await;
    db.close().await;
    Ok(())
}

struct Row {
    processes: usize,
    jobs_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn coordinator(args: &[String]) -> Result<(), String> {
    let url = arg(args, "--database-url")
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or("--database-url (or DATABASE_URL) is needed: a PostgreSQL server")?;
    if !url.starts_with("postgres") {
        return Err("--database-url must be a postgres:// URL".into());
    }
    let processes: Vec<usize> = arg(args, "--processes")
        .unwrap_or_else(|| "1,2,4".into())
        .split(',')
        .map(|p| p.trim().parse().map_err(|_| format!("--processes: {p:?}")))
        .collect::<Result<_, _>>()?;
    let workers = number(args, "--workers", 4)?;
    let jobs = number(args, "--jobs", 20_000)?;
    let latency_jobs = number(args, "--latency-jobs", 200)?.max(1);
    let gap = Duration::from_millis(number(args, "--gap-ms", 5)? as u64);
    let mut rows = Vec::new();
    for &count in &processes {
        let schema = format!("spv_bench_{}", uuid::Uuid::now_v7().simple());
        let result = one_row(&url, &schema, count, workers, jobs, latency_jobs, gap).await;
        drop_schema(&url, &schema).await;
        let row = result?;
        eprintln!(
            "{} process(es): {:.0} jobs/s, p50 {:.2} ms, p99 {:.2} ms",
            row.processes, row.jobs_per_sec, row.p50_ms, row.p99_ms
        );
        rows.push(row);
    }
    println!(
        "\nno-op jobs on PostgreSQL, {workers} workers per process, {jobs} jobs; \
         latency over {latency_jobs} jobs {} ms apart\n",
        gap.as_millis()
    );
    println!("| worker processes | jobs/s | enqueue→start p50 | p99 |");
    println!("|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms |",
            row.processes, row.jobs_per_sec, row.p50_ms, row.p99_ms
        );
    }
    Ok(())
}

async fn one_row(
    url: &str,
    schema: &str,
    processes: usize,
    workers: usize,
    jobs: usize,
    latency_jobs: usize,
    gap: Duration,
) -> Result<Row, String> {
    let db = open(url, schema, 8, true).await?;
    let queue = JobQueue::new(db.clone(), QueueConfig::default());
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children: Vec<Child> = Vec::new();
    for _ in 0..processes {
        let child = Command::new(&exe)
            .args(["--child", "--schema", schema, "--workers"])
            .arg(workers.to_string())
            .env(URL_VAR, url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning a worker process: {e}"))?;
        children.push(child);
    }
    let result = drive(&db, &queue, &mut children, jobs, latency_jobs, gap).await;
    for child in &mut children {
        drop(child.stdin.take());
    }
    for child in &mut children {
        let _ = child.wait();
    }
    db.close().await;
    let (jobs_per_sec, mut latencies) = result?;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Row {
        processes,
        jobs_per_sec,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

/// Throughput, then latencies (ms).
async fn drive(
    db: &Db,
    queue: &JobQueue,
    children: &mut [Child],
    jobs: usize,
    latency_jobs: usize,
    gap: Duration,
) -> Result<(f64, Vec<f64>), String> {
    for child in children.iter_mut() {
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim() != "ready" {
            return Err(format!("a worker process did not start: {line:?}"));
        }
    }
    // Enqueued before the workers go, with 16 enqueuers (not timed).
    let per = jobs.div_ceil(16);
    let mut tasks = Vec::new();
    for t in 0..16 {
        let queue = queue.clone();
        let n = per.min(jobs.saturating_sub(t * per));
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                queue.enqueue(NewJob::new("noop", json!(null))).await?;
            }
            Ok::<_, spv::Error>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    for child in children.iter_mut() {
        let stdin = child.stdin.as_mut().ok_or("no stdin")?;
        writeln!(stdin, "go").map_err(|e| e.to_string())?;
    }
    let deadline = started + Duration::from_secs(600);
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'noop' AND state = 'succeeded'",
        )
        .fetch_one(db.pool())
        .await
        .map_err(|e| e.to_string())?;
        if done as usize >= jobs {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {done} of {jobs} jobs finished in 600 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let jobs_per_sec = jobs as f64 / started.elapsed().as_secs_f64();

    // Latency: the workers are idle now; each job wakes one across processes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ids = Vec::with_capacity(latency_jobs);
    for _ in 0..latency_jobs {
        let job = queue
            .enqueue(NewJob::new("latency", json!({ "t_us": now_us() })))
            .await
            .map_err(|e| e.to_string())?;
        ids.push(job.id);
        tokio::time::sleep(gap).await;
    }
    let mut latencies = Vec::with_capacity(latency_jobs);
    for id in ids {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = queue.get(id).await.map_err(|e| e.to_string())?;
            if let Some(result) = job.result {
                let us = result["lat_us"].as_i64().unwrap_or_default();
                latencies.push(us as f64 / 1000.0);
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("latency job {id} did not finish"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok((jobs_per_sec, latencies))
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(url).await {
        let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        if let Err(error) = sqlx::raw_sql(&sql).execute(&mut conn).await {
            eprintln!("could not drop the bench schema {schema}: {error}");
        }
    }
}
