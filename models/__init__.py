"""The pure core of dondoc: plan schema, calendar, rules and status. No I/O, no clock."""
