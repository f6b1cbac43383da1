"""The warp renderer: any portrait animated by a face-mesh rig and a dense warp (docs/PORTRAIT.md)."""
