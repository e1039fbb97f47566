"""Lab state on disk: one folder per lab (state.json, secrets.json, the saved plan), format checks
and migrations. Below the backends, which read and write it, and the orchestration in labctl.lab."""

from labctl.state.formats import check_format
from labctl.state.lab_state import (
    STATE_FORMAT,
    LabState,
    check_lab_name,
    check_node_name,
    damaged,
    is_lab_name,
    lab_exists,
    lab_folder,
    lab_folders,
    lab_lock,
    lab_secrets,
    load_state,
    read_secrets,
    remove_folder,
    running_labs,
)
from labctl.state.saved_plan import saved_plan

__all__ = [
    "STATE_FORMAT",
    "LabState",
    "check_format",
    "check_lab_name",
    "check_node_name",
    "damaged",
    "is_lab_name",
    "lab_exists",
    "lab_folder",
    "lab_folders",
    "lab_lock",
    "lab_secrets",
    "load_state",
    "read_secrets",
    "remove_folder",
    "running_labs",
    "saved_plan",
]
