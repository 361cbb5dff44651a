"""Field work of the people in the grid: visits and patrols (visits), the coverage of rounds (coverage),
flags per finished order (flags), the month's service stars (stars), the grid's public board (board)
and what China's Personal Information Protection Law asks of the personal data they hold (pii)."""
