"""Demo data: simulated surveys (`demo.surveys`) and complaints played through the complaint
lifecycle (`demo.complaints`), seeded by `hailong demo` (`demo.command`). Not storage: it
writes through storage, as any other face does."""
