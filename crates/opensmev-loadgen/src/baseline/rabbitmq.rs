//! The RabbitMQ baseline (`opensmev-load baseline rabbitmq`): a durable broker doing the hops of
//! a bus round trip, with the same payloads, the same closed loop and the same HDR latency
//! machinery, through the `lapin` AMQP 0-9-1 client on the tool's tokio runtime.
//!
//! A round trip here is what a bus round trip is, hop for hop:
//! * **request hop**: a producer (the bus run's consumer IS) publishes the request to the
//!   provider's durable queue — persistent (`delivery_mode` 2), `mandatory`, on a channel in
//!   publisher-confirm mode, and the broker's confirm is awaited before the request counts as
//!   accepted (the bus answers `SendRequest` only after a durable commit); a handler (the bus
//!   run's provider IS) consumes it with manual acknowledgement and acks it;
//! * **response hop**: the handler publishes the response (same rules) to the producer's own
//!   durable reply queue (the bus run's `NodeID` queue), awaits the confirm, and the producer
//!   consumes and acks it. The round trip ends there.
//!
//! So one round trip = 2 durable hops = 2 confirmed persistent publishes + 2 deliveries + 2 acks.
//! The handler acks the request before publishing the response, as the bus's provider does
//! (`GetRequest` → `Ack` → `SendResponse`). One difference stays: an AMQP `basic.ack` gets no
//! answer from the broker, whereas the bus's `Ack` is a call answered after its commit.
//!
//! The loop is the bus run's closed loop: each producer keeps at most `window` round trips in
//! flight and starts the next one as soon as a publish is confirmed and a slot is free; each
//! handler works one message at a time (consume → ack → publish → confirm), as a bus provider
//! polls one message at a time; consumers prefetch `window` messages (`basic.qos`). Every
//! producer and handler has a connection of its own (as every bus client has its own HTTP
//! client). Payloads are the bench workload's business content (`Scenario`, padded by
//! `--payload-bytes`), and each side checks that it got exactly what was sent.
//!
//! The queues (`opensmev-baseline-<pid>-<time>-requests` and `…-replies-<i>`, classic or
//! quorum) are declared durable at the start and deleted at the end. A broker that cannot be
//! reached is a setup error (the command exits 2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_core::Stream;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use opensmev_client::new_message_id;
use tokio::sync::{Semaphore, watch};

use super::{HopBackend, HopOperation, HopReport, HopRun, SEND_REQUEST, SEND_RESPONSE};
use crate::LoadError;
use crate::sysinfo;

/// The default broker address.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// How a RabbitMQ baseline report names itself and the broker.
pub const BACKEND: HopBackend = HopBackend {
    name: "rabbitmq",
    title: "RabbitMQ durable-hop baseline",
    server_cpu_key: "broker_cpu_seconds",
    server_cpu_label: "broker",
    operations: [
        "publish request (confirmed)",
        "request hop (publish → consume → ack)",
        "publish response (confirmed)",
        "response hop (publish → consume → ack)",
        "round trip",
    ],
};

/// The report of a RabbitMQ baseline run.
pub type RabbitReport = HopReport;

/// One measured operation of a RabbitMQ baseline run.
pub type RabbitOperation = HopOperation;

/// The RabbitMQ queue type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    /// A classic durable queue.
    Classic,
    /// A quorum queue (replicated log; durable by construction).
    Quorum,
}

impl QueueType {
    /// `classic` or `quorum`.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

/// A RabbitMQ baseline run.
#[derive(Debug, Clone)]
pub struct RabbitConfig {
    /// The broker, `amqp://user:password@host:port/vhost`.
    pub url: String,
    /// Round-trip originators (the bus run's consumers).
    pub producers: usize,
    /// Request handlers (the bus run's providers).
    pub consumers: usize,
    /// Round trips in flight per producer.
    pub window: usize,
    /// How long round trips are started.
    pub duration: Duration,
    /// Padding of the business content, bytes.
    pub payload_bytes: usize,
    /// Queue type.
    pub queue_type: QueueType,
    /// After the last start, how long unfinished round trips may take.
    pub grace: Duration,
    /// A progress line on stderr every second.
    pub progress: bool,
    /// The command line, for the report.
    pub command_line: String,
}

impl RabbitConfig {
    /// 2 producers, 2 consumers, window 4, 10 s, no padding, classic queues: the bus run's
    /// defaults.
    pub fn new(url: impl Into<String>) -> RabbitConfig {
        RabbitConfig {
            url: url.into(),
            producers: 2,
            consumers: 2,
            window: 4,
            duration: Duration::from_secs(10),
            payload_bytes: 0,
            queue_type: QueueType::Classic,
            grace: Duration::from_secs(10),
            progress: false,
            command_line: String::new(),
        }
    }
}

/// Whether an AMQP 0-9-1 server answers at `addr` (`host:port`): the protocol header is sent
/// and a method frame (`connection.start`) must come back within `timeout`.
pub fn amqp_answers(addr: &str, timeout: Duration) -> bool {
    super::answers(addr, timeout, b"AMQP\x00\x00\x09\x01", |first| first == 1)
}

/// The URL with the password hidden.
fn masked(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn amqp(what: &str) -> impl Fn(lapin::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The next delivery of a consumer, or `None` when halted or the consumer ended.
async fn next_delivery(
    consumer: &mut Consumer,
    halt: &mut watch::Receiver<bool>,
) -> Option<lapin::Result<lapin::message::Delivery>> {
    if *halt.borrow() {
        return None;
    }
    tokio::select! {
        d = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *consumer).poll_next(cx)) => d,
        _ = halt.changed() => None,
    }
}

fn persistent(id: &str, reply_to: Option<&str>) -> BasicProperties {
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(id.into())
        .with_correlation_id(id.into())
        .with_content_type("application/xml".into());
    match reply_to {
        Some(queue) => props.with_reply_to(queue.into()),
        None => props,
    }
}

/// Publishes persistently to `queue` and waits for the broker's confirm.
async fn publish_confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    props: BasicProperties,
) -> Result<(), (String, String)> {
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirm = channel
        .basic_publish("".into(), queue.into(), options, body, props)
        .await
        .map_err(|e| ("amqp".to_owned(), format!("publish to {queue}: {e}")))?
        .await
        .map_err(|e| ("amqp".to_owned(), format!("confirm from {queue}: {e}")))?;
    if confirm.is_nack() {
        return Err((
            "nack".into(),
            format!("the broker refused a message for {queue}"),
        ));
    }
    if confirm.take_message().is_some() {
        return Err((
            "unroutable".into(),
            format!("a message for {queue} was returned"),
        ));
    }
    Ok(())
}

/// A producer: publishes requests in a closed loop of `window` round trips.
async fn producer(shared: Arc<HopRun>, index: usize, channel: Channel, window: usize) {
    let slots = Arc::new(Semaphore::new(window));
    while let Some((id, body, start)) = shared.start_round_trip(&slots).await {
        let props = persistent(&id, Some(&shared.replies[index]));
        let published = publish_confirmed(&channel, &shared.requests, body.as_bytes(), props).await;
        shared.sent(SEND_REQUEST, &id, start, published).await;
    }
}

fn correlation(delivery: &lapin::message::Delivery) -> String {
    delivery
        .properties
        .correlation_id()
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default()
}

/// A handler: consumes requests one at a time, acks each, publishes its response.
async fn handler(
    shared: Arc<HopRun>,
    mut consumer: Consumer,
    outbound: Channel,
    mut halt: watch::Receiver<bool>,
) {
    while let Some(delivery) = next_delivery(&mut consumer, &mut halt).await {
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                shared.error("amqp", format!("consuming requests: {e}"));
                return;
            }
        };
        let id = correlation(&delivery);
        let reply_to = delivery
            .properties
            .reply_to()
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
            shared.fail(&id, "amqp", format!("ack of request {id}: {e}"));
            continue;
        }
        if !shared.request_taken(&id, &delivery.data, Instant::now()) {
            continue;
        }
        let Some((body, begun)) = shared.response_to(&id) else {
            continue;
        };
        let response_id = new_message_id();
        let mut props = persistent(&response_id, None);
        props = props.with_correlation_id(id.as_str().into());
        let published = publish_confirmed(&outbound, &reply_to, body.as_bytes(), props).await;
        shared.sent(SEND_RESPONSE, &id, begun, published).await;
    }
}

/// A producer's reply consumer: consumes and acks responses, ends round trips.
async fn reply_consumer(
    shared: Arc<HopRun>,
    mut consumer: Consumer,
    mut halt: watch::Receiver<bool>,
) {
    while let Some(delivery) = next_delivery(&mut consumer, &mut halt).await {
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                shared.error("amqp", format!("consuming responses: {e}"));
                return;
            }
        };
        let id = correlation(&delivery);
        if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
            shared.fail(&id, "amqp", format!("ack of the response to {id}: {e}"));
            continue;
        }
        shared.response_taken(&id, &delivery.data, Instant::now());
    }
}

/// Process ids of the running RabbitMQ broker (`beam.smp`), to report its CPU time.
pub(crate) fn broker_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim() == "beam.smp").then_some(pid)
        })
        .collect()
}

pub(crate) fn cpu_of(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|p| sysinfo::sample(Some(*p)).map(|s| s.cpu_s))
        .sum()
}

/// The clients' connections and channels, closed at the end.
#[derive(Debug, Default)]
struct Connections(Vec<Connection>);

impl Connections {
    async fn open(&mut self, url: &str) -> Result<&Connection, String> {
        let connection = connect(url).await?;
        self.0.push(connection);
        Ok(&self.0[self.0.len() - 1])
    }

    async fn close(self) {
        for c in self.0 {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.close(200, "done".into())).await;
        }
    }
}

async fn connect(url: &str) -> Result<Connection, String> {
    match tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!(
            "RabbitMQ is not reachable at {}: {e}. Start it (e.g. `rabbitmq-server -detached`) or name another broker with --url.",
            masked(url)
        )),
        Err(_) => Err(format!(
            "RabbitMQ at {} did not answer within 10 s. Start it (e.g. `rabbitmq-server -detached`) or name another broker with --url.",
            masked(url)
        )),
    }
}

/// Runs the baseline.
pub async fn run(config: &RabbitConfig) -> Result<RabbitReport, LoadError> {
    super::check_loop(
        config.producers,
        config.consumers,
        config.window,
        config.duration,
    )?;
    let admin = connect(&config.url).await.map_err(LoadError::Setup)?;
    let result = async {
        let channel = admin
            .create_channel()
            .await
            .map_err(amqp("opening a channel"))?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let prefix = format!("opensmev-baseline-{}-{stamp}", std::process::id());
        let requests = format!("{prefix}-requests");
        let replies: Vec<String> = (0..config.producers)
            .map(|i| format!("{prefix}-replies-{i}"))
            .collect();
        let mut declared = Vec::new();
        let outcome = async {
            let mut arguments = FieldTable::default();
            if config.queue_type == QueueType::Quorum {
                arguments.insert(
                    "x-queue-type".into(),
                    AMQPValue::LongString("quorum".into()),
                );
            }
            let durable = QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            };
            for queue in std::iter::once(&requests).chain(&replies) {
                channel
                    .queue_declare(queue.as_str().into(), durable, arguments.clone())
                    .await
                    .map_err(amqp("declaring a queue"))?;
                declared.push(queue.clone());
            }
            load(config, requests.clone(), replies.clone()).await
        }
        .await;
        let outcome = outcome.map(|mut report| {
            report.created = declared.clone();
            report
        });
        for queue in declared {
            let deleted = tokio::time::timeout(
                Duration::from_secs(5),
                channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()),
            )
            .await;
            match deleted {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("opensmev-load: deleting queue {queue}: {e}"),
                Err(_) => eprintln!("opensmev-load: deleting queue {queue}: no answer within 5 s"),
            }
        }
        let _ =
            tokio::time::timeout(Duration::from_secs(5), channel.close(200, "done".into())).await;
        outcome
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), admin.close(200, "done".into())).await;
    result.map_err(|e| LoadError::Setup(format!("rabbitmq baseline: {e}")))
}

async fn load(
    config: &RabbitConfig,
    requests: String,
    replies: Vec<String>,
) -> Result<RabbitReport, String> {
    let started_at = super::now_rfc3339();
    let mut connections = Connections::default();
    let (halt_tx, halt_rx) = watch::channel(false);
    let prefetch = u16::try_from(config.window).unwrap_or(u16::MAX);
    let qos = |channel: Channel| async move {
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(amqp("basic.qos"))?;
        Ok::<_, String>(channel)
    };
    // Set everything up before the clock starts.
    let mut producer_channels = Vec::new();
    let mut reply_consumers = Vec::new();
    for (i, queue) in replies.iter().enumerate() {
        let c = connections.open(&config.url).await?;
        let publish = c.create_channel().await.map_err(amqp("channel"))?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(amqp("confirm.select"))?;
        let inbound = qos(c.create_channel().await.map_err(amqp("channel"))?).await?;
        let consumer = inbound
            .basic_consume(
                queue.as_str().into(),
                format!("opensmev-replies-{i}").into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp("basic.consume"))?;
        producer_channels.push(publish);
        reply_consumers.push(consumer);
    }
    let mut handlers = Vec::new();
    for j in 0..config.consumers {
        let c = connections.open(&config.url).await?;
        let inbound = qos(c.create_channel().await.map_err(amqp("channel"))?).await?;
        let consumer = inbound
            .basic_consume(
                requests.as_str().into(),
                format!("opensmev-handler-{j}").into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp("basic.consume"))?;
        let outbound = c.create_channel().await.map_err(amqp("channel"))?;
        outbound
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(amqp("confirm.select"))?;
        handlers.push((consumer, outbound));
    }
    let broker = broker_pids();
    let broker_before = cpu_of(&broker);
    let tool_before = sysinfo::sample(None);
    let t0 = Instant::now();
    let shared = Arc::new(HopRun::new(
        BACKEND,
        t0,
        config.duration,
        config.payload_bytes,
        requests,
        replies,
    ));
    let mut workers = tokio::task::JoinSet::new();
    for consumer in reply_consumers {
        workers.spawn(reply_consumer(shared.clone(), consumer, halt_rx.clone()));
    }
    for (consumer, outbound) in handlers {
        workers.spawn(handler(shared.clone(), consumer, outbound, halt_rx.clone()));
    }
    if config.progress {
        workers.spawn(shared.clone().progress(halt_rx.clone()));
    }
    let mut senders = tokio::task::JoinSet::new();
    for (i, channel) in producer_channels.into_iter().enumerate() {
        senders.spawn(producer(shared.clone(), i, channel, config.window));
    }
    while senders.join_next().await.is_some() {}
    shared.settle(config.grace).await;
    let end = Instant::now();
    let broker_after = cpu_of(&broker);
    let tool_after = sysinfo::sample(None);
    let _ = halt_tx.send(true);
    // Workers stop on the halt signal; one stuck on the broker must not hang the run.
    let drained = tokio::time::timeout(config.grace + Duration::from_secs(5), async {
        while workers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        workers.abort_all();
        while workers.join_next().await.is_some() {}
    }
    shared.fail_unfinished(config.grace);
    connections.close().await;
    Ok(HopReport {
        command: config.command_line.clone(),
        started_at,
        settings: vec![
            ("broker", masked(&config.url)),
            (
                "queues",
                format!(
                    "{} durable, 1 request queue + {} reply queues",
                    config.queue_type.as_str(),
                    config.producers
                ),
            ),
            (
                "messages",
                "persistent (delivery_mode 2), mandatory, publisher confirm awaited per publish; manual ack".to_owned(),
            ),
        ]
        .into_iter()
        .chain(HopRun::common_settings(
            config.producers,
            config.consumers,
            format!(
                "closed loop, window {} per producer, prefetch {prefetch}",
                config.window
            ),
            config.duration,
            config.payload_bytes,
        ))
        .collect(),
        server_cpu_seconds: broker_before.zip(broker_after).map(|(b, a)| a - b),
        tool_cpu_seconds: tool_before.zip(tool_after).map(|(b, a)| a.cpu_s - b.cpu_s),
        ..shared.report(end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_masked() {
        assert_eq!(
            masked("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(masked("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
    }

    #[test]
    fn nothing_answers_on_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        assert!(!amqp_answers(&addr, Duration::from_millis(500)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_broker_is_a_setup_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut config = RabbitConfig::new(format!("amqp://guest:guest@127.0.0.1:{port}/%2f"));
        config.duration = Duration::from_millis(200);
        let err = run(&config).await.unwrap_err().to_string();
        assert!(err.contains("not reachable"), "{err}");
        assert!(err.contains("guest:***@"), "{err}");
    }

    /// Runs only when an AMQP server answers on 127.0.0.1:5672.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smoke_against_a_local_rabbitmq() {
        if !amqp_answers("127.0.0.1:5672", Duration::from_secs(2)) {
            eprintln!(
                "note: no AMQP server on 127.0.0.1:5672, the RabbitMQ smoke test is skipped (start one with `rabbitmq-server -detached`)"
            );
            return;
        }
        let mut config = RabbitConfig::new(DEFAULT_URL);
        config.duration = Duration::from_millis(1500);
        config.payload_bytes = 1000;
        config.command_line = "smoke".into();
        // Bounded: a stuck broker or client must fail the test, not hang the suite.
        let report = tokio::time::timeout(Duration::from_secs(60), run(&config))
            .await
            .expect("the RabbitMQ baseline did not finish within 60 s")
            .expect("rabbitmq baseline");
        let md = report.to_markdown();
        assert!(report.completed > 0, "{md}");
        assert_eq!(report.errors, 0, "{md}");
        assert_eq!(report.failed, 0, "{md}");
        assert_eq!(report.hops(), 2 * report.completed);
        assert!(report.hops_per_second() > 0.0);
        assert!(report.round_trip_latency().p99_ms > 0.0, "{md}");
        for o in &report.operations {
            assert!(o.latency.count > 0, "{}: {md}", o.name);
        }
        let json = report.to_json();
        assert!(json["totals"]["hops_per_second"].as_f64().unwrap() > 0.0);
        // The queues are gone: a passive declare of each fails (and closes its channel).
        assert_eq!(report.created.len(), 1 + config.producers);
        let admin = connect(DEFAULT_URL).await.unwrap();
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        for queue in &report.created {
            let channel = admin.create_channel().await.unwrap();
            let found = tokio::time::timeout(
                Duration::from_secs(10),
                channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()),
            )
            .await
            .expect("the broker answers a passive declare");
            assert!(found.is_err(), "{queue} was not deleted");
        }
        let _ = admin.close(200, "done".into()).await;
    }
}
