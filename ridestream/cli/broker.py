"""`rides kafka` and `rides topics`: the embedded broker, and the topics of any cluster."""

from __future__ import annotations

import argparse

from ridestream.cli.common import AddCommand, command_settings, manage_service
from ridestream.config import parse_duration
from ridestream.stack import embedded_broker


def cmd_kafka(args: argparse.Namespace) -> int:
    """Start, stop or report the embedded broker of the profile."""
    broker = embedded_broker(command_settings(args))
    starting = f"starting Kafka on {broker.bootstrap_servers} (data in {broker.data_dir})"
    return manage_service(broker, args.action, "kafka", broker.bootstrap_servers, starting)


def cmd_topics(args: argparse.Namespace) -> int:
    """Create, describe, list or delete topics."""
    from ridestream.kafka.topics import create_topic, delete_topic, describe_topics

    settings = command_settings(args)
    if args.action == "create":
        create_topic(
            settings.kafka,
            args.name,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            retention=parse_duration(args.retention) if args.retention else None,
            cleanup_policy=args.cleanup_policy,
        )
        replication = "default" if args.replication_factor < 0 else args.replication_factor
        print(
            f"created topic {args.name!r}: {args.partitions} partitions, replication "
            f"{replication}, cleanup {args.cleanup_policy}"
            + (f", retention {args.retention}" if args.retention else "")
        )
    elif args.action == "delete":
        delete_topic(settings.kafka, args.name)
        print(f"deleted topic {args.name!r}")
    elif args.action == "list":
        topics = describe_topics(settings.kafka, with_config=False)
        width = max([len(t.name) for t in topics] + [5])
        print(f"{'topic':<{width}}  partitions  records")
        for topic in topics:
            print(f"{topic.name:<{width}}  {len(topic.partitions):>10}  {topic.messages:>7,}")
    else:
        for topic in describe_topics(settings.kafka, [args.name]):
            print(
                f"topic {topic.name}: {len(topic.partitions)} partitions, {topic.messages:,} records"
            )
            for key, value in topic.config.items():
                print(f"  {key} = {value}")
            for p in topic.partitions:
                print(
                    f"  partition {p.partition}: leader {p.leader}, replicas {list(p.replicas)}, "
                    f"in sync {list(p.isrs)}, offsets {p.low:,}..{p.high:,} ({p.messages:,} records)"
                )
    return 0


def add_commands(add: AddCommand) -> None:
    """Add `kafka` and `topics`."""
    kafka = add("kafka", "start, stop or check the embedded Kafka broker", cmd_kafka)
    kafka.add_argument("action", choices=("start", "stop", "status"))

    topics = add("topics", "create, describe, list or delete topics", cmd_topics)
    topic_actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    topics_list = topic_actions.add_parser("list", help="topics with partition and record counts")
    topics_describe = topic_actions.add_parser(
        "describe", help="partitions, replicas, offsets and non-default settings of a topic"
    )
    topics_describe.add_argument("name")
    topics_create = topic_actions.add_parser(
        "create",
        help="create a topic (the course's tutorial_topic: --partitions 2 --retention '1 day')",
    )
    topics_create.add_argument("name")
    topics_create.add_argument("--partitions", type=int, default=2, help="(default: %(default)s)")
    topics_create.add_argument(
        "--replication-factor",
        type=int,
        default=-1,
        help="copies of each partition (default: the cluster's default, 1 on the embedded broker)",
    )
    topics_create.add_argument("--retention", help="e.g. '1 day' (default: the broker's)")
    topics_create.add_argument(
        "--cleanup-policy",
        choices=("delete", "compact", "compact,delete"),
        default="delete",
        help="(default: %(default)s)",
    )
    topics_delete = topic_actions.add_parser("delete", help="delete a topic and its records")
    topics_delete.add_argument("name")
    for sub in (topics_list, topics_describe, topics_create, topics_delete):
        sub.add_argument("--profile", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.add_argument(
            "--bootstrap-servers",
            dest="kafka.bootstrap_servers",
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
