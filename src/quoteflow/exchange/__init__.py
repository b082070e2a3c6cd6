"""The exchange: quoteflow's own small electronic market."""
