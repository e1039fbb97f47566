"""SIP checks (registered by the VoIP recipes' issue)."""
