"""nodes/image_out.py without a graph: when the large-frame Fast DDS profile is used, and what
it contains (the profile's effect on a best-effort subscriber is measured in
test/test_frame_generator_ros.py)."""
import xml.etree.ElementTree as ET

from avatar.nodes.image_out import LARGE_MESSAGE_PROFILE, use_large_message_transport

NS = {"p": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}


def test_profile_only_when_fast_dds_is_not_configured_otherwise():
    env = {}
    assert use_large_message_transport(env) == str(LARGE_MESSAGE_PROFILE)
    assert env == {"FASTRTPS_DEFAULT_PROFILES_FILE": str(LARGE_MESSAGE_PROFILE)}
    for user_setting in ({"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"},
                         {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"},
                         {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"},
                         {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}):
        env = dict(user_setting)
        assert use_large_message_transport(env) is None and env == user_setting
    env = {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}
    assert use_large_message_transport(env) is not None


def test_profile_is_a_default_participant_profile_with_a_large_segment():
    root = ET.parse(LARGE_MESSAGE_PROFILE).getroot()
    segment = root.find("p:transport_descriptors/p:transport_descriptor/p:segment_size", NS)
    assert int(segment.text) >= 4 * 1024 * 1024       # a 1024x1024 rgb8 frame is 3 MiB
    participant = root.find("p:participant", NS)
    assert participant.get("is_default_profile") == "true"
    kinds = {d.find("p:type", NS).text for d in root.findall("p:transport_descriptors/p:transport_descriptor", NS)}
    assert kinds == {"SHM", "UDPv4"}                   # Fast DDS's defaults, the segment aside
