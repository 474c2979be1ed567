"""The ``.ircm`` artifact: lowering to the runtime's ops, the writer, a reader.

Format: docs/artifact.md.  ``irc.save(graph, "model.ircm")`` writes one;
``irc.runtime.Session("model.ircm")`` runs it in C.
"""

from .lowering import ArtifactError, Program, RtNode, RtTensor, lower_program
from .reader import ArtifactInfo, read_artifact
from .writer import build_artifact, program_and_plan, write_artifact

__all__ = ["ArtifactError", "ArtifactInfo", "Program", "RtNode", "RtTensor", "build_artifact",
           "lower_program", "program_and_plan", "read_artifact", "write_artifact"]
