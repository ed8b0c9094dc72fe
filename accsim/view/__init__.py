"""What a person looks at: plots in one palette, the roofline, Perfetto timelines and the HTML
report, drawn from run JSON, serving outcomes and result databases."""
