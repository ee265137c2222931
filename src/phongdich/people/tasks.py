"""No scheduled jobs for people yet (retention of people follows the declarations work)."""
