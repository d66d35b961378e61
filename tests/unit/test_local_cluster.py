"""The embedded cluster's configuration, without starting a JVM."""

from __future__ import annotations

import base64

from ridestream.local import EmbeddedKafka, EmbeddedKafkaCluster, kafka_uuid


def properties_of(node: EmbeddedKafka) -> dict[str, str]:
    return dict(line.split("=", 1) for line in node._properties().splitlines())


def test_kafka_uuids_are_sixteen_bytes_and_never_look_like_an_option():
    for _ in range(200):
        text = kafka_uuid()
        assert len(base64.urlsafe_b64decode(text + "==")) == 16
        assert not text.startswith("-")


def test_every_node_votes_in_one_quorum_of_three_on_its_own_ports(tmp_path):
    cluster = EmbeddedKafkaCluster(data_dir=tmp_path)
    nodes = [properties_of(node) for node in cluster.nodes]

    assert [node["node.id"] for node in nodes] == ["1", "2", "3"]
    assert len({node["controller.quorum.bootstrap.servers"] for node in nodes}) == 1
    assert all("controller.quorum.voters" not in node for node in nodes)  # a dynamic quorum
    ports = [n.port for n in cluster.nodes] + [n.controller_port for n in cluster.nodes]
    assert len(set(ports)) == 6
    assert len({node["log.dirs"] for node in nodes}) == 3
    assert cluster.bootstrap_servers == ",".join(f"127.0.0.1:{n.port}" for n in cluster.nodes)
    voters = cluster.nodes[0].quorum.initial_controllers.split(",")
    assert [voter.split("@")[0] for voter in voters] == ["1", "2", "3"]


def test_cluster_nodes_replicate_topics_three_ways_and_acks_all_needs_two_replicas(tmp_path):
    # The configuration only; test_broker_failover.py kills a node and checks that nothing is lost.
    node = properties_of(EmbeddedKafkaCluster(data_dir=tmp_path).nodes[0])

    assert node["process.roles"] == "broker,controller"
    for replication in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
    ):
        assert node[replication] == "3", replication
    assert node["min.insync.replicas"] == node["transaction.state.log.min.isr"] == "2"


def test_a_single_node_stays_its_own_static_quorum_with_replication_one(tmp_path):
    node = properties_of(EmbeddedKafka(data_dir=tmp_path, port=9092))

    assert node["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert node["offsets.topic.replication.factor"] == node["min.insync.replicas"] == "1"
