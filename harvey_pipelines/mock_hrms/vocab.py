"""Word lists for the synthetic HR data (plain ASCII so emails stay simple)."""

from __future__ import annotations

FIRST_NAMES = [
    "Aarav", "Aditi", "Aisha", "Akash", "Alice", "Amit", "Ananya", "Anil", "Anjali", "Arjun",
    "Bob", "Carlos", "Chen", "Chloe", "Daan", "Daniel", "Deepa", "Divya", "Elena", "Emma",
    "Eva", "Farah", "Fatima", "Gaurav", "Hannah", "Harsh", "Isha", "Ivan", "Jan", "Jane",
    "John", "Julia", "Karan", "Kavya", "Kiran", "Lars", "Laura", "Lena", "Liam", "Lucas",
    "Maya", "Meera", "Mohan", "Nadia", "Neha", "Nikhil", "Noah", "Olivia", "Omar", "Pooja",
    "Priya", "Rahul", "Raj", "Ravi", "Riya", "Rohan", "Sam", "Sanjay", "Sara", "Sefa",
    "Shreya", "Sneha", "Sofia", "Sunil", "Tanvi", "Tara", "Tom", "Uma", "Varun", "Vikram",
    "Wei", "Yara", "Yusuf", "Zoe", "Ines", "Pieter", "Sanne", "Thijs", "Fleur", "Bram",
]

LAST_NAMES = [
    "Agarwal", "Bakker", "Banerjee", "Bhat", "Brown", "Chatterjee", "Chopra", "Das", "Davis",
    "de Jong", "de Vries", "Desai", "Dubois", "Fernandes", "Garcia", "Ghosh", "Gupta", "Iyer",
    "Jain", "Janssen", "Johnson", "Joshi", "Kapoor", "Khan", "Kumar", "Lee", "Malhotra",
    "Martin", "Mehta", "Menon", "Miller", "Mishra", "Mukherjee", "Nair", "Patel", "Pillai",
    "Rao", "Reddy", "Rossi", "Roy", "Saxena", "Shah", "Sharma", "Singh", "Smith", "Smits",
    "Srinivasan", "Taylor", "Thomas", "Tiwari", "van Dijk", "Verma", "Visser", "Wang",
    "Williams", "Wilson", "Yadav", "Zhang", "Bose", "Kulkarni",
]

COMPANY_WORDS = [
    "northwind", "contoso", "fabrikam", "initech", "globex", "umbrella", "stark", "wayne",
    "tyrell", "cyberdyne", "soylent", "hooli", "vandelay", "wonka", "acme", "oscorp",
]

# (department name, role noun used for job titles)
DEPARTMENTS = [
    ("Engineering", "Software Engineer"), ("Product", "Product Manager"),
    ("Sales", "Account Executive"), ("Marketing", "Marketing Specialist"),
    ("Human Resources", "HR Generalist"), ("Finance", "Financial Analyst"),
    ("Customer Support", "Support Specialist"), ("Operations", "Operations Analyst"),
    ("Legal", "Legal Counsel"), ("Data Science", "Data Scientist"),
    ("Design", "Product Designer"), ("Quality Assurance", "QA Engineer"),
    ("IT", "IT Administrator"), ("Security", "Security Engineer"),
    ("Platform Engineering", "Platform Engineer"), ("Data Engineering", "Data Engineer"),
    ("Mobile Engineering", "Mobile Engineer"), ("Infrastructure", "Site Reliability Engineer"),
    ("Business Development", "Business Development Manager"), ("Procurement", "Buyer"),
    ("Facilities", "Facilities Coordinator"), ("Talent Acquisition", "Recruiter"),
    ("Learning and Development", "Training Specialist"), ("Payroll", "Payroll Specialist"),
    ("Customer Success", "Customer Success Manager"), ("Partnerships", "Partner Manager"),
    ("Research", "Research Scientist"), ("Analytics", "Business Analyst"),
    ("Compliance", "Compliance Analyst"), ("Internal Audit", "Auditor"),
    ("Public Relations", "PR Specialist"), ("Content", "Content Writer"),
    ("Supply Chain", "Supply Chain Analyst"), ("Logistics", "Logistics Coordinator"),
    ("Manufacturing", "Production Engineer"), ("Administration", "Office Administrator"),
    ("Treasury", "Treasury Analyst"), ("Tax", "Tax Specialist"),
    ("Investor Relations", "IR Analyst"), ("Strategy", "Strategy Consultant"),
    ("Solutions Engineering", "Solutions Engineer"), ("Technical Writing", "Technical Writer"),
    ("Machine Learning", "ML Engineer"), ("Frontend Engineering", "Frontend Engineer"),
    ("Backend Engineering", "Backend Engineer"), ("Developer Relations", "Developer Advocate"),
    ("Revenue Operations", "RevOps Analyst"), ("Sales Engineering", "Sales Engineer"),
    ("Field Operations", "Field Technician"), ("Risk Management", "Risk Analyst"),
    ("Corporate Communications", "Communications Specialist"), ("Events", "Event Manager"),
    ("Growth", "Growth Marketer"), ("Localization", "Localization Specialist"),
    ("Enterprise Applications", "Applications Engineer"), ("Network Operations", "Network Engineer"),
    ("Clinical Operations", "Clinical Coordinator"), ("Sustainability", "Sustainability Analyst"),
    ("Workplace Experience", "Workplace Coordinator"), ("Executive Office", "Executive Assistant"),
]

REGIONS = {
    "india": {
        "locations": ["Bangalore", "Mumbai", "Pune", "Hyderabad", "Chennai", "Delhi", "Remote"],
        "currency": "INR", "salary_factor": 25, "round_to": 500,
    },
    "europe": {
        "locations": ["Amsterdam", "Rotterdam", "Utrecht", "Berlin", "Paris", "Remote"],
        "currency": "EUR", "salary_factor": 1, "round_to": 50,
    },
    "americas": {
        "locations": ["New York", "San Francisco", "Austin", "Toronto", "Chicago", "Remote"],
        "currency": "USD", "salary_factor": 1.15, "round_to": 50,
    },
}


def region_for_timezone(tz_name: str) -> str:
    if tz_name.startswith("Asia/"):
        return "india"
    if tz_name.startswith("Europe/") or tz_name.startswith("Africa/") or tz_name in ("UTC", "Etc/UTC"):
        return "europe"
    return "americas"


# monthly base salary in EUR per level (1 junior .. 7 chief executive)
LEVEL_BASE_SALARY = {1: 2600, 2: 3400, 3: 4400, 4: 5600, 5: 6800, 6: 9000, 7: 15000}
LEVEL_PREFIX = {1: "Junior ", 2: "", 3: "Senior ", 4: "Staff "}

SKILLS = [
    "Python", "SQL", "Java", "Go", "React", "TypeScript", "AWS", "GCP", "Kubernetes", "Docker",
    "Excel", "Negotiation", "Public Speaking", "Figma", "Salesforce", "Tableau", "dbt", "Spark",
    "Project Management", "Stakeholder Management", "Recruiting", "Payroll", "Accounting",
    "Copywriting", "SEO", "Customer Service", "Linux", "Security", "Machine Learning", "Statistics",
]
CERTIFICATIONS = [
    "AWS Solutions Architect", "PMP", "CPA", "SHRM-CP", "Scrum Master", "CISSP",
    "Google Data Analytics", "Salesforce Administrator", "ITIL Foundation", "Six Sigma Green Belt",
]
CANDIDATE_SOURCES = ["linkedin", "referral", "careers_page", "indeed", "agency", "naukri", "job_fair"]
CURRENT_COMPANIES = [
    "Tech Corp", "Infosys", "TCS", "Wipro", "Accenture", "Capgemini", "Booking.com", "Adyen",
    "Philips", "Flipkart", "Zoho", "Freshworks", "Startup Labs", "Globant", "Thoughtworks",
]
DEGREES = [("B.Tech", "Computer Science"), ("B.Sc", "Mathematics"), ("M.Sc", "Data Science"),
           ("MBA", "Business Administration"), ("B.A", "Economics"), ("B.Com", "Commerce"),
           ("M.Tech", "Electronics"), ("BSc", "Psychology")]
INSTITUTIONS = ["IIT Delhi", "IIT Bombay", "BITS Pilani", "NIT Trichy", "University of Amsterdam",
                "TU Delft", "University of Toronto", "Anna University", "Delhi University",
                "Erasmus University Rotterdam", "VIT Vellore", "IIM Ahmedabad"]
REQUIREMENTS = [
    "{years}+ years of relevant experience", "Strong communication skills",
    "Experience working in cross-functional teams", "Ownership and bias for action",
    "Hands-on experience with {skill}", "Comfortable with ambiguity",
]
NICE_TO_HAVE = ["Experience with {skill}", "Startup experience", "Open source contributions",
                "People management experience", "Domain knowledge in HR tech"]
LEAVE_REASONS = {
    "annual": ["Family vacation", "Personal trip", "Wedding in the family", "Festival holidays", "Rest"],
    "sick": ["Fever", "Medical appointment", "Flu", "Recovery after surgery", "Migraine"],
    "casual": ["Personal errand", "Moving house", "Family function", "Bank work", "Child's school event"],
    "maternity": ["Maternity leave"],
    "paternity": ["Paternity leave"],
    "unpaid": ["Extended travel", "Personal reasons", "Sabbatical"],
}
INTERVIEW_FEEDBACK = [
    "Strong technical background, good communication",
    "Solid problem solving, needs more depth in system design",
    "Great culture fit, clear thinker",
    "Struggled with the coding exercise",
    "Excellent domain knowledge",
    "Communication could be clearer; technically adequate",
    "Impressive track record, recommend moving forward",
]
RECOMMENDATIONS_BY_RATING = {1: "strong_no_hire", 2: "no_hire", 3: "proceed_to_next_round",
                             4: "hire", 5: "strong_hire"}
ATTENDANCE_LOCATIONS = ["Office", "Office", "Office", "Home", "Client site"]
ATTENDANCE_DEVICES = ["Mobile", "Web", "Biometric"]
