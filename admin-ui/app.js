// placeholder: replaced by the admin page
