"""What people read and what runs leave behind: output sets, every human-readable word (labels), the HTML report, Excel."""
