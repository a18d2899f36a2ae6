"""Log shipping: a Kinesis-Agent-style tailer that sends log lines to a Kinesis data stream
or a Firehose stream with checkpointed file offsets (``agent``), its agent.json
configuration (``config``), the agent's data processing options (``processing``), file
tracking and checkpoints (``tailer``) and destinations (``sinks``).
``python -m sim.logship --config agent.json`` runs it; ``sim.datagen.logwriter`` writes the
rotating access logs it tails in the lab."""

from sim.logship.agent import Agent, AgentStatus, FileStatus, FlowStatus, Progress
from sim.logship.config import AgentConfig, ConfigError, Flow, ProcessingOption
from sim.logship.sinks import ShipError
from sim.logship.tailer import CheckpointError

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentStatus",
    "CheckpointError",
    "ConfigError",
    "FileStatus",
    "Flow",
    "FlowStatus",
    "ProcessingOption",
    "Progress",
    "ShipError",
]
