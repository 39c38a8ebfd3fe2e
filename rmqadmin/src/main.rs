//! `rmqadmin`: the admin commands of Apache RocketMQ 4.9.8's `mqadmin`, with the same
//! names and options, speaking only the remoting protocol (no JVM). Works against our
//! name server and broker and against Java's.
//!
//! Output is an aligned table (or mqadmin's text) by default; `--json` prints one JSON
//! document instead. Errors go to stderr with exit status 1 (2 for bad usage).

mod admin;
mod commands;
mod message;
mod msgcmd;
mod opscmd;
mod util;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "rmqadmin",
    version,
    about = "RocketMQ admin tool (mqadmin's commands, no JVM)",
    after_help = "The name server comes from -n/--namesrvAddr or the NAMESRV_ADDR environment variable \
                  (host:port, several separated by ';')."
)]
pub struct Cli {
    /// Name server address list, e.g. 192.168.0.1:9876;192.168.0.2:9876
    #[arg(short = 'n', long = "namesrvAddr", global = true, value_name = "ADDRS")]
    pub namesrv_addr: Option<String>,

    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Request timeout in milliseconds
    #[arg(long = "timeout", global = true, default_value_t = 5000, value_name = "MS")]
    pub timeout_millis: u64,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[command(rename_all = "camelCase")]
pub enum Command {
    /// List all of clusters
    ClusterList(ClusterListArgs),
    /// Fetch all topic list from name server
    TopicList(TopicListArgs),
    /// Examine topic route info
    TopicRoute(TopicRouteArgs),
    /// Examine topic Status info
    TopicStatus(TopicArg),
    /// Get cluster info for topic
    TopicClusterList(TopicArg),
    /// Update or create topic
    UpdateTopic(UpdateTopicArgs),
    /// Delete topic from broker and NameServer
    DeleteTopic(DeleteTopicArgs),
    /// Update or create subscription group
    UpdateSubGroup(UpdateSubGroupArgs),
    /// Delete subscription group from broker
    DeleteSubGroup(DeleteSubGroupArgs),
    /// Set consume message mode. pull/pop etc.
    SetConsumeMode(SetConsumeModeArgs),
    /// Fetch broker runtime status data
    BrokerStatus(BrokerOrClusterArgs),
    /// Fetch broker consume stats data
    BrokerConsumeStats(BrokerConsumeStatsArgs),
    /// Query consumers's progress, speed
    ConsumerProgress(ConsumerProgressArgs),
    /// Query consumer's socket connection, client version and subscription
    ConsumerConnection(ConsumerConnectionArgs),
    /// Query producer's socket connection and client version
    ProducerConnection(ProducerConnectionArgs),
    /// Reset consumer offset by timestamp (without client restart)
    ResetOffsetByTime(ResetOffsetByTimeArgs),
    /// Clone offset from other group
    CloneGroupOffset(CloneGroupOffsetArgs),
    /// Query Message by Id
    QueryMsgById(QueryMsgByIdArgs),
    /// Query Message by Key
    QueryMsgByKey(QueryMsgByKeyArgs),
    /// Query Message by Unique key
    QueryMsgByUniqueKey(QueryMsgByUniqueKeyArgs),
    /// Print Message Detail
    PrintMsg(PrintMsgArgs),
    /// Get broker config by cluster or special broker
    GetBrokerConfig(BrokerOrClusterArgs),
    /// Update broker's config
    UpdateBrokerConfig(UpdateConfigArgs),
    /// Get configs of name server
    GetNamesrvConfig,
    /// Update configs of name server
    UpdateNamesrvConfig(UpdateNamesrvConfigArgs),
    /// Create or update KV config
    UpdateKvConfig(KvConfigArgs),
    /// Delete KV config
    DeleteKvConfig(DeleteKvConfigArgs),
    /// Wipe write perm of broker in all name server
    WipeWritePerm(BrokerNameArg),
    /// Add write perm of broker in all name server
    AddWritePerm(BrokerNameArg),
    /// Topic and Consumer tps stats
    StatsAll(StatsAllArgs),
    /// Update topic perm
    UpdateTopicPerm(UpdateTopicPermArgs),
    /// Create or update or delete order conf
    UpdateOrderConf(UpdateOrderConfArgs),
    /// Query Message by offset
    QueryMsgByOffset(QueryMsgByOffsetArgs),
    /// Skip all messages that are accumulated (not consumed) currently
    SkipAccumulatedMessage(SkipAccumulatedMessageArgs),
    /// Query cq command.
    QueryCq(QueryCqArgs),
    /// Clean expired ConsumeQueue on broker.
    #[command(name = "cleanExpiredCQ")]
    CleanExpiredCq(BrokerOrClusterMaintenanceArgs),
    /// Delete expired CommitLog files
    DeleteExpiredCommitLog(BrokerOrClusterMaintenanceArgs),
    /// Clean unused topic on broker.
    CleanUnusedTopic(BrokerOrClusterMaintenanceArgs),
    /// Get consumer config by subscription group name!
    GetConsumerConfig(GroupNameArg),
    /// Query producer's instances of broker
    Producer(BrokerAddrArg),
    /// Allocate MQ
    #[command(name = "allocateMQ")]
    AllocateMq(AllocateMqArgs),
    /// Send a message
    SendMessage(SendMessageArgs),
    /// Consume message
    ConsumeMessage(ConsumeMessageArgs),
}

#[derive(Args, Debug)]
pub struct ClusterListArgs {
    /// Print more stats
    #[arg(short = 'm', long = "moreStats")]
    pub more_stats: bool,
    /// Repeat every INTERVAL seconds (until interrupted)
    #[arg(short = 'i', long = "interval")]
    pub interval: Option<u64>,
}

#[derive(Args, Debug)]
pub struct TopicListArgs {
    /// Print the cluster and consumer groups of each topic
    #[arg(short = 'c', long = "clusterModel")]
    pub cluster_model: bool,
}

#[derive(Args, Debug)]
pub struct TopicRouteArgs {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Use list format to print data
    #[arg(short = 'l', long = "list")]
    pub list: bool,
}

#[derive(Args, Debug)]
pub struct TopicArg {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
}

#[derive(Args, Debug)]
pub struct UpdateTopicArgs {
    /// create topic to which broker
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// create topic to which cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// set read queue nums
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    pub read_queue_nums: i32,
    /// set write queue nums
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    pub write_queue_nums: i32,
    /// set topic's permission (2|4|6), intro[2:W 4:R; 6:RW]
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    pub perm: i32,
    /// set topic's order (true|false)
    #[arg(short = 'o', long = "order")]
    pub order: Option<String>,
    /// is unit topic (true|false)
    #[arg(short = 'u', long = "unit")]
    pub unit: Option<String>,
    /// has unit sub (true|false)
    #[arg(short = 's', long = "hasUnitSub")]
    pub has_unit_sub: Option<String>,
}

#[derive(Args, Debug)]
pub struct DeleteTopicArgs {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// delete topic from which cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: String,
}

#[derive(Args, Debug)]
pub struct UpdateSubGroupArgs {
    /// create subscription group to which broker
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// create subscription group to which cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// consumer group name
    #[arg(short = 'g', long = "groupName")]
    pub group_name: String,
    /// consume enable
    #[arg(short = 's', long = "consumeEnable")]
    pub consume_enable: Option<String>,
    /// from min offset
    #[arg(short = 'm', long = "consumeFromMinEnable")]
    pub consume_from_min_enable: Option<String>,
    /// broadcast
    #[arg(short = 'd', long = "consumeBroadcastEnable")]
    pub consume_broadcast_enable: Option<String>,
    /// retry queue nums
    #[arg(short = 'q', long = "retryQueueNums")]
    pub retry_queue_nums: Option<i32>,
    /// retry max times
    #[arg(short = 'r', long = "retryMaxTimes")]
    pub retry_max_times: Option<i32>,
    /// consumer from which broker id
    #[arg(short = 'i', long = "brokerId")]
    pub broker_id: Option<i64>,
    /// which broker id when consume slowly
    #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
    pub which_broker_when_consume_slowly: Option<i64>,
    /// notify consumerId changed
    #[arg(short = 'a', long = "notifyConsumerIdsChanged")]
    pub notify_consumer_ids_changed: Option<String>,
}

#[derive(Args, Debug)]
pub struct DeleteSubGroupArgs {
    /// delete subscription group from which broker
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// delete subscription group from which cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// subscription group name
    #[arg(short = 'g', long = "groupName")]
    pub group_name: String,
    /// remove offset
    #[arg(short = 'r', long = "removeOffset")]
    pub remove_offset: Option<String>,
}

#[derive(Args, Debug)]
pub struct SetConsumeModeArgs {
    /// set the mode on which broker
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// set the mode on every master of which cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// topic name
    #[arg(short = 't', long = "topicName")]
    pub topic_name: String,
    /// consumer group name
    #[arg(short = 'g', long = "groupName")]
    pub group_name: String,
    /// consume mode. PULL/POP
    #[arg(short = 'm', long = "mode")]
    pub mode: String,
    /// num of queue which share in pop mode
    #[arg(short = 'q', long = "popShareQueueNum")]
    pub pop_share_queue_num: Option<i32>,
}

#[derive(Args, Debug)]
pub struct BrokerOrClusterArgs {
    /// Broker address
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// which cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
}

#[derive(Args, Debug)]
pub struct BrokerConsumeStatsArgs {
    /// Broker address
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: String,
    /// only order topics (true|false)
    #[arg(short = 'o', long = "order")]
    pub order: Option<String>,
    /// diff level: print only queues with at least this many unconsumed messages
    #[arg(short = 'l', long = "level", default_value_t = 0)]
    pub level: i64,
    /// request timeout in milliseconds
    #[arg(short = 't', long = "timeoutMillis")]
    pub timeout_millis: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ConsumerProgressArgs {
    /// consumer group name
    #[arg(short = 'g', long = "groupName")]
    pub group_name: Option<String>,
    /// Show Client IP per Queue (true|false)
    #[arg(short = 's', long = "showClientIP")]
    pub show_client_ip: Option<String>,
}

#[derive(Args, Debug)]
pub struct ConsumerConnectionArgs {
    /// consumer group name
    #[arg(short = 'g', long = "consumerGroup")]
    pub consumer_group: String,
    /// broker address
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
}

#[derive(Args, Debug)]
pub struct ProducerConnectionArgs {
    /// producer group name
    #[arg(short = 'g', long = "producerGroup")]
    pub producer_group: String,
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
}

#[derive(Args, Debug)]
pub struct ResetOffsetByTimeArgs {
    /// set the consumer group
    #[arg(short = 'g', long = "group")]
    pub group: String,
    /// set the topic
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// set the timestamp [now|currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
    #[arg(short = 's', long = "timestamp")]
    pub timestamp: String,
    /// set the force rollback by timestamp switch [true|false]
    #[arg(short = 'f', long = "force")]
    pub force: Option<String>,
    /// reset c++ client offset
    #[arg(short = 'c', long = "cplus")]
    pub cplus: bool,
}

#[derive(Args, Debug)]
pub struct CloneGroupOffsetArgs {
    /// set source consumer group
    #[arg(short = 's', long = "srcGroup")]
    pub src_group: String,
    /// set destination consumer group
    #[arg(short = 'd', long = "destGroup")]
    pub dest_group: String,
    /// set the topic
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// the group or the topic is offline (true|false)
    #[arg(short = 'o', long = "offline")]
    pub offline: Option<String>,
}

#[derive(Args, Debug)]
pub struct QueryMsgByIdArgs {
    /// Message Id (offset id; several separated by ',')
    #[arg(short = 'i', long = "msgId")]
    pub msg_id: String,
    /// consumer group name (with -d: consume directly; not supported)
    #[arg(short = 'g', long = "consumerGroup")]
    pub consumer_group: Option<String>,
    /// The consumer's client id (with -g: consume directly; not supported)
    #[arg(short = 'd', long = "clientId")]
    pub client_id: Option<String>,
    /// resend message (true|false)
    #[arg(short = 's', long = "sendMessage")]
    pub send_message: Option<String>,
    /// unit name (ignored)
    #[arg(short = 'u', long = "unitName")]
    pub unit_name: Option<String>,
}

#[derive(Args, Debug)]
pub struct QueryMsgByKeyArgs {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Message Key
    #[arg(short = 'k', long = "msgKey")]
    pub msg_key: String,
}

#[derive(Args, Debug)]
pub struct QueryMsgByUniqueKeyArgs {
    /// Message Id (the client's unique key)
    #[arg(short = 'i', long = "msgId")]
    pub msg_id: String,
    /// consumer group name (with -d: consume directly; not supported)
    #[arg(short = 'g', long = "consumerGroup")]
    pub consumer_group: Option<String>,
    /// The consumer's client id (with -g: consume directly; not supported)
    #[arg(short = 'd', long = "clientId")]
    pub client_id: Option<String>,
    /// The topic of msg
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Print all message, the limit is 32
    #[arg(short = 'a', long = "showAll")]
    pub show_all: bool,
}

#[derive(Args, Debug)]
pub struct PrintMsgArgs {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// CharsetName (only UTF-8 is supported)
    #[arg(short = 'c', long = "charsetName")]
    pub charset_name: Option<String>,
    /// Subscribe Expression (eg: TagA || TagB)
    #[arg(short = 's', long = "subExpression")]
    pub sub_expression: Option<String>,
    /// Begin timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
    #[arg(short = 'b', long = "beginTimestamp")]
    pub begin_timestamp: Option<String>,
    /// End timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
    #[arg(short = 'e', long = "endTimestamp")]
    pub end_timestamp: Option<String>,
    /// print body (true|false)
    #[arg(short = 'd', long = "printBody")]
    pub print_body: Option<String>,
}

#[derive(Args, Debug)]
pub struct UpdateConfigArgs {
    /// update which broker
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// update which cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// config key
    #[arg(short = 'k', long = "key")]
    pub key: String,
    /// config value
    #[arg(short = 'v', long = "value")]
    pub value: String,
}

#[derive(Args, Debug)]
pub struct UpdateNamesrvConfigArgs {
    /// config key
    #[arg(short = 'k', long = "key")]
    pub key: String,
    /// config value
    #[arg(short = 'v', long = "value")]
    pub value: String,
}

#[derive(Args, Debug)]
pub struct KvConfigArgs {
    /// set the namespace
    #[arg(short = 's', long = "namespace")]
    pub namespace: String,
    /// set the key name
    #[arg(short = 'k', long = "key")]
    pub key: String,
    /// set the key value
    #[arg(short = 'v', long = "value")]
    pub value: String,
}

#[derive(Args, Debug)]
pub struct DeleteKvConfigArgs {
    /// set the namespace
    #[arg(short = 's', long = "namespace")]
    pub namespace: String,
    /// set the key name
    #[arg(short = 'k', long = "key")]
    pub key: String,
}

#[derive(Args, Debug)]
pub struct BrokerNameArg {
    /// broker name
    #[arg(short = 'b', long = "brokerName")]
    pub broker_name: String,
}

#[derive(Args, Debug)]
pub struct StatsAllArgs {
    /// print active topic only
    #[arg(short = 'a', long = "activeTopic")]
    pub active_topic: bool,
    /// print select topic only
    #[arg(short = 't', long = "topic")]
    pub topic: Option<String>,
}

#[derive(Args, Debug)]
pub struct SendMessageArgs {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// UTF-8 string format of the message body
    #[arg(short = 'p', long = "body")]
    pub body: String,
    /// Message keys
    #[arg(short = 'k', long = "key")]
    pub key: Option<String>,
    /// Message tags
    #[arg(short = 'c', long = "tags")]
    pub tags: Option<String>,
    /// Send message to target broker (name)
    #[arg(short = 'b', long = "broker")]
    pub broker: Option<String>,
    /// Send message to target queue (needs -b)
    #[arg(short = 'i', long = "qid")]
    pub qid: Option<i32>,
    /// Message Trace Enable (not supported: must be false)
    #[arg(short = 'm', long = "msgTraceEnable")]
    pub msg_trace_enable: Option<String>,
}

#[derive(Args, Debug)]
pub struct ConsumeMessageArgs {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Broker name
    #[arg(short = 'b', long = "brokerName")]
    pub broker_name: Option<String>,
    /// Queue Id (needs -b)
    #[arg(short = 'i', long = "queueId")]
    pub queue_id: Option<i32>,
    /// Queue offset (needs -i)
    #[arg(short = 'o', long = "offset")]
    pub offset: Option<i64>,
    /// Consumer group name
    #[arg(short = 'g', long = "consumerGroup")]
    pub consumer_group: Option<String>,
    /// Begin timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
    #[arg(short = 's', long = "beginTimestamp")]
    pub begin_timestamp: Option<String>,
    /// End timestamp [currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
    #[arg(short = 'e', long = "endTimestamp")]
    pub end_timestamp: Option<String>,
    /// Number of message to be consumed
    #[arg(short = 'c', long = "MessageNumber", default_value_t = 128)]
    pub message_number: i64,
}

#[derive(Args, Debug)]
pub struct UpdateTopicPermArgs {
    /// update the topic on this broker (a master)
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster_name")]
    pub broker_addr: Option<String>,
    /// update the topic on every master of this cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// set topic's permission (2|4|6), intro[2:W; 4:R; 6:RW]
    #[arg(short = 'p', long = "perm")]
    pub perm: i32,
}

#[derive(Args, Debug)]
pub struct UpdateOrderConfArgs {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// set order conf [eg. brokerName1:num;brokerName2:num]
    #[arg(short = 'v', long = "orderConf")]
    pub order_conf: Option<String>,
    /// option type [eg. put|get|delete]
    #[arg(short = 'm', long = "method")]
    pub method: String,
}

#[derive(Args, Debug)]
pub struct QueryMsgByOffsetArgs {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Broker Name
    #[arg(short = 'b', long = "brokerName")]
    pub broker_name: String,
    /// Queue Id
    #[arg(short = 'i', long = "queueId")]
    pub queue_id: i32,
    /// Queue Offset
    #[arg(short = 'o', long = "offset")]
    pub offset: i64,
}

#[derive(Args, Debug)]
pub struct SkipAccumulatedMessageArgs {
    /// set the consumer group
    #[arg(short = 'g', long = "group")]
    pub group: String,
    /// set the topic
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// set the force rollback by timestamp switch [true|false]
    #[arg(short = 'f', long = "force")]
    pub force: Option<String>,
}

#[derive(Args, Debug)]
pub struct QueryCqArgs {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// queue num, ie. 1
    #[arg(short = 'q', long = "queue")]
    pub queue: i32,
    /// start queue index.
    #[arg(short = 'i', long = "index")]
    pub index: i64,
    /// how many.
    #[arg(short = 'c', long = "count", default_value_t = 10)]
    pub count: i32,
    /// broker addr (default: the master of the topic's first broker)
    #[arg(short = 'b', long = "broker")]
    pub broker: Option<String>,
    /// consumer group.
    #[arg(short = 'g', long = "consumer")]
    pub consumer: Option<String>,
}

#[derive(Args, Debug)]
pub struct BrokerOrClusterMaintenanceArgs {
    /// Broker address
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
    pub broker_addr: Option<String>,
    /// cluster name (neither -b nor -c: every broker of every cluster)
    #[arg(short = 'c', long = "cluster")]
    pub cluster: Option<String>,
}

#[derive(Args, Debug)]
pub struct GroupNameArg {
    /// subscription group name
    #[arg(short = 'g', long = "groupName")]
    pub group_name: String,
}

#[derive(Args, Debug)]
pub struct BrokerAddrArg {
    /// broker address
    #[arg(short = 'b', long = "broker")]
    pub broker: String,
}

#[derive(Args, Debug)]
pub struct AllocateMqArgs {
    /// topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// ipList (client ids), separated by ','
    #[arg(short = 'i', long = "ipList")]
    pub ip_list: String,
}

fn main() {
    let cli = Cli::parse();
    let namesrvs = cli
        .namesrv_addr
        .clone()
        .or_else(|| std::env::var("NAMESRV_ADDR").ok())
        .map(|s| util::split_addrs(&s))
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime");
    let admin = admin::Admin::new(namesrvs, Duration::from_millis(cli.timeout_millis));
    let json = cli.json;
    let result = runtime.block_on(commands::run(&admin, cli.command, json));
    match result {
        Ok(()) => {}
        Err(e) => {
            eprintln!("rmqadmin: {e:#}");
            std::process::exit(1);
        }
    }
}
